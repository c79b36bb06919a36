package cdek

import "fmt"

// endMode is how a parcel starts or ends its way with CDEK.
type endMode int

const (
	modeDoor      endMode = iota + 1 // «дверь»: courier at an address (from_location / to_location)
	modeWarehouse                    // «склад»: a CDEK office (shipment_point / delivery_point)
	modePostamat                     // «постамат»: a parcel locker, named like an office
)

// tariffMode is a tariff's «Режим доставки».
type tariffMode struct {
	from, to endMode
}

// lookupTariff returns the delivery mode of a tariff; ok is false for a
// tariff not in CDEK's published table.
func lookupTariff(code int) (tariffMode, bool) {
	m, ok := tariffModes[code]
	return m, ok
}

// office reports whether the end is a CDEK office or locker (named by code)
// rather than an address.
func (m endMode) office() bool { return m == modeWarehouse || m == modePostamat }

// String is the mode's name in the genitive, as in «от склада», «до двери».
func (m endMode) String() string {
	switch m {
	case modeDoor:
		return "двери"
	case modeWarehouse:
		return "склада"
	case modePostamat:
		return "постамата"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// sendingPoint decides what the create request names as the start: the
// office (shipment_point) or the address (from_location), for a tariff and
// the configured points. A tariff CDEK documents decides by its mode; for
// an unknown tariff the only configured point is used, and with both
// configured there is no safe choice. The error is in Russian.
func sendingPoint(tariff int, haveOffice, haveAddress bool) (office bool, err error) {
	if m, ok := lookupTariff(tariff); ok {
		switch {
		case m.from.office() && !haveOffice:
			return false, fmt.Errorf("тариф %d начинается «от %s», а в настройках не указан пункт приёма (shipment_point)", tariff, m.from)
		case !m.from.office() && !haveAddress:
			return false, fmt.Errorf("тариф %d начинается «от двери», а в настройках не указан адрес отправителя (from_location)", tariff)
		}
		return m.from.office(), nil
	}
	switch {
	case haveOffice && haveAddress:
		return false, fmt.Errorf("тариф %d не найден в таблице тарифов СДЭК, а в настройках указаны и пункт приёма, и адрес отправителя: непонятно, что отправлять", tariff)
	case haveOffice:
		return true, nil
	case haveAddress:
		return false, nil
	}
	return false, fmt.Errorf("в настройках не указан ни пункт приёма (shipment_point), ни адрес отправителя (from_location)")
}

// receivingFits reports, in Russian, why a tariff does not fit the
// destination: an office tariff needs a pickup point, a door tariff an
// address. An unknown tariff fits anything (CDEK judges it).
func receivingFits(tariff int, toOffice bool) error {
	m, ok := lookupTariff(tariff)
	if !ok {
		return nil
	}
	switch {
	case m.to.office() && !toOffice:
		return fmt.Errorf("тариф %d доставляет «до %s», а в заказе не указан код ПВЗ", tariff, m.to)
	case !m.to.office() && toOffice:
		return fmt.Errorf("тариф %d доставляет «до двери», а в заказе указан код ПВЗ вместо адреса", tariff)
	}
	return nil
}
