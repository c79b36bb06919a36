package cdek

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shipbridge/shipbridge/carriers"
)

// statusMap maps CDEK order statuses (Appendix 1) onto carrier-neutral
// statuses. A status not listed is StatusUnknown.
var statusMap = map[string]carriers.Status{
	"ACCEPTED":                               carriers.StatusPending,
	"CREATED":                                carriers.StatusRegistered,
	"REMOVED":                                carriers.StatusCancelled,
	"INVALID":                                carriers.StatusRejected,
	"DELIVERED":                              carriers.StatusDelivered,
	"NOT_DELIVERED":                          carriers.StatusReturned,
	"RECEIVED_AT_SHIPMENT_WAREHOUSE":         carriers.StatusInTransit,
	"READY_FOR_SHIPMENT_IN_SENDER_CITY":      carriers.StatusInTransit,
	"TAKEN_BY_TRANSPORTER_FROM_SENDER_CITY":  carriers.StatusInTransit,
	"SENT_TO_RECIPIENT_CITY":                 carriers.StatusInTransit,
	"ACCEPTED_IN_RECIPIENT_CITY":             carriers.StatusInTransit,
	"ACCEPTED_AT_RECIPIENT_CITY_WAREHOUSE":   carriers.StatusInTransit,
	"TAKEN_BY_COURIER":                       carriers.StatusInTransit,
	"ACCEPTED_AT_PICK_UP_POINT":              carriers.StatusInTransit,
	"ACCEPTED_AT_TRANSIT_WAREHOUSE":          carriers.StatusInTransit,
	"RETURNED_TO_SENDER_CITY_WAREHOUSE":      carriers.StatusInTransit,
	"RETURNED_TO_TRANSIT_WAREHOUSE":          carriers.StatusInTransit,
	"RETURNED_TO_RECIPIENT_CITY_WAREHOUSE":   carriers.StatusInTransit,
	"READY_FOR_SHIPMENT_IN_TRANSIT_CITY":     carriers.StatusInTransit,
	"TAKEN_BY_TRANSPORTER_FROM_TRANSIT_CITY": carriers.StatusInTransit,
	"SENT_TO_TRANSIT_CITY":                   carriers.StatusInTransit,
	"ACCEPTED_IN_TRANSIT_CITY":               carriers.StatusInTransit,
	"SENT_TO_SENDER_CITY":                    carriers.StatusInTransit,
	"ACCEPTED_IN_SENDER_CITY":                carriers.StatusInTransit,
	"ENTERED_TO_TRANSIT_WAREHOUSE":           carriers.StatusInTransit,
	"ENTERED_TO_RECIPIENT_CITY_WAREHOUSE":    carriers.StatusInTransit,
	"ENTERED_TO_PICK_UP_POINT":               carriers.StatusInTransit,
	"IN_CUSTOMS_INTERNATIONAL":               carriers.StatusInTransit,
	"SHIPPED_TO_DESTINATION":                 carriers.StatusInTransit,
	"PASSED_TO_TRANSIT_CARRIER":              carriers.StatusInTransit,
	"IN_CUSTOMS_LOCAL":                       carriers.StatusInTransit,
	"CUSTOMS_COMPLETE":                       carriers.StatusInTransit,
	"POSTOMAT_POSTED":                        carriers.StatusInTransit,
	"POSTOMAT_SEIZED":                        carriers.StatusInTransit,
	"POSTOMAT_RECEIVED":                      carriers.StatusDelivered,
}

// MapStatus maps a CDEK order status code onto a carrier-neutral status.
func MapStatus(code string) carriers.Status {
	if s, ok := statusMap[strings.ToUpper(strings.TrimSpace(code))]; ok {
		return s
	}
	return carriers.StatusUnknown
}

// Error codes with a special meaning.
const (
	CodeDuplicateNumber     = "error_validate_im_dep_number_has_already_had_integration"
	CodeDuplicateNumberAlt  = "error_validate_online_shop_number_departure_is_not_unique"
	CodeDeleteStatus        = "error_validate_order_delete_status"
	CodeStillProcessed      = "v2_similar_request_still_processed"
	CodeEntityNotReady      = "v2_entity_not_ready"
	CodeReceiverPhone       = "ve_receiver_phone_type_incorrect"
	CodeRecipientLocation   = "v2_recipient_location_not_recognized"
	CodeSenderLocation      = "v2_sender_location_not_recognized"
	CodeDeliveryPointAbsent = "v2_office_by_delivery_point_not_found"
	CodeShipmentPointAbsent = "v2_office_by_shipment_point_not_found"
)

// dataCodes are synchronous refusals caused by the order's data, which a
// manager can fix (KindInvalid); other refusals are KindRejected.
var dataCodes = map[string]bool{
	"v2_field_is_empty":                              true,
	"v2_invalid_value_type":                          true,
	"v2_invalid_format":                              true,
	"v2_number_items_is_more_126":                    true,
	"v2_delivery_address_multivalued":                true,
	CodeReceiverPhone:                                true,
	CodeRecipientLocation:                            true,
	CodeDeliveryPointAbsent:                          true,
	"error_validate_package_number_not_unique":       true,
	"error_validate_package_one_of_size_is_zero":     true,
	"error_validate_recipient_name_incorrect_symbol": true,
	"error_validate_recipient_name_only_digits":      true,
}

var fieldRe = regexp.MustCompile(`\[([^\]]+)\]`)

// russian explains one CDEK error to a manager. number is our order number.
func russian(it ErrorItem, number string) string {
	code := it.Code
	switch {
	case code == CodeDuplicateNumber || code == CodeDuplicateNumberAlt:
		return fmt.Sprintf("Заказ с номером %s уже зарегистрирован в СДЭК", number)
	case code == CodeReceiverPhone || strings.Contains(code, "recipient_phone") || strings.Contains(code, "receiver_phone"):
		return "СДЭК не принял телефон получателя: укажите номер в формате +7XXXXXXXXXX"
	case code == CodeDeliveryPointAbsent || strings.Contains(code, "delivery_point"):
		return "СДЭК не знает пункт выдачи с таким кодом: проверьте «Код ПВЗ»"
	case code == CodeShipmentPointAbsent || strings.Contains(code, "shipment_point"):
		return "СДЭК не знает пункт приёма отправлений из настроек; обратитесь к администратору"
	case code == CodeRecipientLocation:
		return "СДЭК не распознал город получателя: проверьте индекс и город в адресе доставки"
	case code == CodeSenderLocation:
		return "СДЭК не распознал город отправителя из настроек; обратитесь к администратору"
	case code == CodeDeleteStatus:
		return "СДЭК не удаляет заказ: он уже не в статусе «Создан»"
	case code == "error_validate_order_delete_documents_in_warehouse_is_not_empty":
		return "СДЭК не удаляет заказ: по нему уже есть операции на складе"
	case code == "error_validate_order_delete_claims_is_not_empty":
		return "СДЭК не удаляет заказ: по нему зарегистрирована претензия"
	case code == CodeStillProcessed:
		return "СДЭК ещё обрабатывает предыдущий запрос по этому заказу; повтор запланирован"
	case code == CodeEntityNotReady:
		return "Заказ в СДЭК ещё не создан, накладную получить пока нельзя; повтор запланирован"
	case code == "v2_field_is_empty":
		if m := fieldRe.FindStringSubmatch(it.Message); m != nil {
			return fmt.Sprintf("СДЭК: не заполнено обязательное поле %s", m[1])
		}
		return "СДЭК: не заполнено обязательное поле"
	case code == "v2_invalid_value_type" || code == "v2_invalid_format":
		return "СДЭК не принял значение поля: " + it.Message
	case code == "v2_delivery_address_multivalued":
		return "Указаны и код ПВЗ, и адрес доставки: оставьте что-то одно"
	case code == "v2_number_items_is_more_126":
		return "В заказе больше 126 разных товаров: СДЭК столько не принимает"
	case strings.HasSuffix(code, "_name_incorrect_symbol"):
		return "Имя содержит недопустимый символ «/»"
	case strings.HasSuffix(code, "_name_only_digits"):
		return "Имя не может состоять только из цифр"
	case code == "err_pvz_with_tariff_mistake":
		return "Тариф не подходит для выбранного пункта выдачи: укажите другой тариф или ПВЗ"
	case code == "err_invalid_tariff_with_ordertype":
		return "Тариф не подходит к типу заказа в настройках; обратитесь к администратору"
	case code == "v2_outdated_tariff":
		return "Тариф СДЭК устарел: укажите другой тариф"
	case code == "ERR_PVZ_WEIGHT_LIMIT":
		return "Посылка тяжелее, чем принимает выбранный пункт выдачи"
	case code == "v2_entity_not_found" || code == "v2_entity_not_found_im_number" || code == "v2_order_not_found":
		return "Заказ не найден в СДЭК"
	case code == "v2_internal_error":
		return "Внутренняя ошибка СДЭК; повтор запланирован"
	}
	if it.Message != "" {
		return "СДЭК отклонил заказ: " + it.Message
	}
	return "СДЭК отклонил заказ"
}

// russianAll joins the explanations of several errors, without repeats.
func russianAll(items []ErrorItem, number string) string {
	seen := map[string]bool{}
	var parts []string
	for _, it := range items {
		m := russian(it, number)
		if !seen[m] {
			seen[m] = true
			parts = append(parts, m)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ")
}

func joinCodes(items []ErrorItem) string {
	var codes []string
	seen := map[string]bool{}
	for _, it := range items {
		if it.Code != "" && !seen[it.Code] {
			seen[it.Code] = true
			codes = append(codes, it.Code)
		}
	}
	return strings.Join(codes, ",")
}

func joinMessages(items []ErrorItem) string {
	var msgs []string
	for _, it := range items {
		if it.Message != "" {
			msgs = append(msgs, it.Message)
		}
	}
	return strings.Join(msgs, "; ")
}
