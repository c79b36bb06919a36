package poller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/moysklad"
)

// isoCountries maps ISO 3166-1 numeric codes (what MoySklad's built-in
// countries carry in code and externalCode, e.g. «Россия» "643") to alpha-2
// codes (what CDEK's country_code takes), for the countries CDEK and Почта
// России deliver to from Russia: the EAEU and CIS, and the larger
// neighbours. A country outside the table is reported to the manager, never
// sent as Russia.
var isoCountries = map[string]string{
	"643": "RU", // Россия
	"398": "KZ", // Казахстан
	"112": "BY", // Беларусь
	"051": "AM", // Армения
	"417": "KG", // Киргизия
	"860": "UZ", // Узбекистан
	"762": "TJ", // Таджикистан
	"031": "AZ", // Азербайджан
	"268": "GE", // Грузия
	"498": "MD", // Молдова
	"795": "TM", // Туркменистан
	"804": "UA", // Украина
	"496": "MN", // Монголия
	"156": "CN", // Китай
	"792": "TR", // Турция
	"784": "AE", // ОАЭ
	"376": "IL", // Израиль
	"276": "DE", // Германия
	"840": "US", // США
}

// isoByName are the alpha-2 codes of the same countries by their Russian
// names, for an account's own country entities that carry no ISO code.
var isoByName = map[string]string{
	"россия": "RU", "российская федерация": "RU", "казахстан": "KZ", "беларусь": "BY", "белоруссия": "BY",
	"армения": "AM", "киргизия": "KG", "кыргызстан": "KG", "узбекистан": "UZ", "таджикистан": "TJ",
	"азербайджан": "AZ", "грузия": "GE", "молдова": "MD", "молдавия": "MD", "туркмения": "TM",
	"туркменистан": "TM", "украина": "UA", "монголия": "MN", "китай": "CN", "турция": "TR", "оаэ": "AE",
	"израиль": "IL", "германия": "DE", "сша": "US",
}

// countryAlpha2 is the ISO alpha-2 code of the address's country: from the
// entity's code or externalCode (numeric, or already alpha-2), else from its
// name. ok is false when the address names a country that is not known.
// An address with no country at all is Russia's (MoySklad leaves the
// country empty on most Russian addresses): "" and ok.
func countryAlpha2(a *moysklad.Address) (code string, ok bool) {
	if a == nil {
		return "", true
	}
	hasRef := a.CountryMeta != nil && a.CountryMeta.Href != ""
	name := strings.TrimSpace(a.Country)
	if !hasRef && name == "" && a.CountryCode == "" && a.CountryExternalCode == "" {
		return "", true
	}
	for _, c := range []string{a.CountryCode, a.CountryExternalCode} {
		c = strings.TrimSpace(c)
		if cc, ok := isoCountries[c]; ok {
			return cc, true
		}
		if len(c) == 2 && isAlpha2(strings.ToUpper(c)) {
			return strings.ToUpper(c), true
		}
	}
	if cc, ok := isoByName[strings.ToLower(name)]; ok {
		return cc, true
	}
	return "", false
}

func isAlpha2(c string) bool {
	for _, v := range isoCountries {
		if v == c {
			return true
		}
	}
	return false
}

// countryLabel names the address's country for a manager's message.
func countryLabel(a *moysklad.Address) string {
	name := strings.TrimSpace(a.Country)
	code := strings.TrimSpace(firstNonEmpty(a.CountryCode, a.CountryExternalCode))
	switch {
	case name != "" && code != "":
		return fmt.Sprintf("«%s» (код %s)", name, code)
	case name != "":
		return "«" + name + "»"
	case code != "":
		return "с кодом " + code
	}
	return "(не удалось прочитать из МойСклад)"
}

// resolveAddress reads the country and region of the order's structured
// delivery address, which MoySklad gives as bare references, for an order
// delivered to the door (one with a pickup point needs no address): the
// client reads each entity once and caches it, so this costs a request
// only for a country or region not seen before. A transient failure puts
// off a new shipment (phase none) for a retry, as the country decides the
// carrier's request; in later phases the shipment's address is only used
// for lookups, so the order goes on. A permanent refusal (the entity is
// gone) leaves the country unknown: mapping reports it to the manager.
func (t *task) resolveAddress(ctx context.Context) bool {
	a := t.o.ShipmentAddressFull
	if t.fields.PickupPoint != "" || !a.Unresolved() {
		return true
	}
	err := t.p.ms.ResolveAddress(ctx, a)
	if err == nil {
		return true
	}
	var refused *moysklad.Error
	if errors.As(err, &refused) && refused.StatusCode >= 400 && refused.StatusCode < 500 && refused.StatusCode != 429 {
		t.event("address_unresolved", "Не удалось прочитать страну или регион адреса доставки из МойСклад", map[string]any{"error": err.Error()})
		return true
	}
	if t.phase() != phaseNone {
		return true
	}
	t.rec.Retries++
	d := t.p.backoff(t.rec.Retries)
	t.rec.NextAttemptAt = t.p.now().Add(d)
	t.event("retry", fmt.Sprintf("МойСклад не ответил на запрос страны или региона адреса доставки; повтор через %s (в %s)", d.Round(time.Second), t.rec.NextAttemptAt.Format("15:04:05")),
		map[string]any{"error": err.Error(), "retries": t.rec.Retries, "next_attempt_at": t.rec.NextAttemptAt})
	t.p.log.Warn("read the delivery address's country or region; will retry", zap.String("order", t.o.Name), zap.Duration("in", d), zap.Error(err))
	return false
}
