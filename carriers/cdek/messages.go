package cdek

import (
	"regexp"
	"strings"

	"github.com/shipbridge/shipbridge/carriers"
)

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
	codeInternal            = "v2_internal_error"
)

// codeInfo is what a CDEK error code means for the workflow and for the
// manager. msg may hold "{number}", replaced by our order number.
type codeInfo struct {
	kind carriers.Kind
	msg  string
}

// Short names for the table.
const (
	kInvalid   = carriers.KindInvalid
	kRejected  = carriers.KindRejected
	kTransient = carriers.KindTransient
	kConfig    = carriers.KindConfig
	kNotFound  = carriers.KindNotFound
)

const adminHint = "; обратитесь к администратору"

// errorCodes classifies every CDEK error code we know: the list in [SPEC-common]
// «Список возможных ошибок» (official OpenAPI, copy
// AardSkelige/horsebio-insights:openapi_api_v2_integration.json @ 865b1d98),
// the codes seen in real answers (testdata/SOURCES.md, reference §8.3, §6:
// v2_too_many_webhooks) and the ones the simulator uses for refusals the
// list does not name (v2_office_by_*_point_not_found). A key ending in "*"
// matches every code with that prefix; the longest match wins.
//
// The kind is the meaning of the code in a synchronous answer to a read or
// a delete. For a create, classify turns a transient code and any unknown
// code into KindAmbiguous; a refusal that arrives later as an INVALID
// CREATE request is always KindRejected, with the message from here.
var errorCodes = map[string]codeInfo{
	// Transport, processing, authorisation.
	codeInternal:                 {kTransient, "Внутренняя ошибка СДЭК; повтор запланирован"},
	CodeStillProcessed:           {kTransient, "СДЭК ещё обрабатывает предыдущий запрос по этому заказу; повтор запланирован"},
	"v2_too_many_requests":       {kTransient, "СДЭК ограничил частоту запросов; повтор запланирован"},
	CodeEntityNotReady:           {kTransient, "Заказ в СДЭК ещё не создан, накладную получить пока нельзя; повтор запланирован"},
	"v2_entity_expired":          {kTransient, "Срок хранения накладной в СДЭК истёк; она будет запрошена заново"},
	"error_calculator_calculate": {kTransient, "Калькулятор СДЭК временно не ответил; повтор запланирован"},
	"v2_token_expired":           {kConfig, "СДЭК не принял ключ доступа к API" + adminHint},
	"v2_authorization_incorrect": {kConfig, "СДЭК не принял заголовок авторизации" + adminHint},
	"unauthorized":               {kConfig, "СДЭК отказал в доступе к API" + adminHint},
	"invalid_client":             {kConfig, "СДЭК не принял ключи интеграции (client_id / client_secret)" + adminHint},
	"unsupported_grant_type":     {kConfig, "СДЭК не принял запрос ключа доступа" + adminHint},
	"v2_entity_forbidden":        {kConfig, "Заказ принадлежит другому договору СДЭК: проверьте ключи интеграции" + adminHint},
	"v2_order_forbidden":         {kConfig, "Заказ принадлежит другому договору СДЭК: проверьте ключи интеграции" + adminHint},
	"v2_bad_request":             {kRejected, "СДЭК не понял запрос" + adminHint},
	"v2_parameters_empty":        {kRejected, "СДЭК: в запросе нет параметров" + adminHint},
	"v2_exceeded_size":           {kRejected, "СДЭК: слишком большой размер страницы" + adminHint},
	"v2_order_number_empty":      {kRejected, "СДЭК: не указан ни номер, ни идентификатор заказа" + adminHint},
	"v2_webhook_type_incorrect":  {kConfig, "СДЭК не знает такой тип вебхука" + adminHint},
	"v2_too_many_webhooks":       {kConfig, "В СДЭК уже две подписки на вебхуки — больше нельзя" + adminHint},

	// Not found.
	"v2_entity_not_found":           {kNotFound, "Заказ не найден в СДЭК"},
	"v2_entity_not_found_im_number": {kNotFound, "Заказ не найден в СДЭК"},
	"v2_order_not_found":            {kNotFound, "Заказ не найден в СДЭК"},

	// The order's data: the manager can fix it.
	"v2_field_is_empty":                                      {kInvalid, "СДЭК: не заполнено обязательное поле"},
	"v2_invalid_value_type":                                  {kInvalid, "СДЭК не принял значение поля"},
	"v2_invalid_format":                                      {kInvalid, "СДЭК не принял формат значения"},
	"v2_entity_invalid":                                      {kInvalid, "СДЭК считает данные заказа некорректными"},
	"v2_number_items_is_more_126":                            {kInvalid, "В заказе больше 126 разных товаров: СДЭК столько не принимает"},
	"v2_delivery_address_multivalued":                        {kInvalid, "Указаны и код ПВЗ, и адрес доставки: оставьте что-то одно"},
	CodeRecipientLocation:                                    {kInvalid, "СДЭК не распознал город получателя: проверьте индекс и город в адресе доставки"},
	CodeReceiverPhone:                                        {kInvalid, "СДЭК не принял телефон получателя: укажите номер в формате +7XXXXXXXXXX"},
	CodeDeliveryPointAbsent:                                  {kInvalid, "СДЭК не знает пункт выдачи с таким кодом: проверьте «Код ПВЗ»"},
	"code_invalid":                                           {kInvalid, "СДЭК не принял код пункта выдачи или приёма: проверьте «Код ПВЗ»"},
	"ve_receiver_pickup_point_empty":                         {kInvalid, "Для тарифа «до склада» нужен код ПВЗ"},
	"ve_receiver_pickup_point_take_only":                     {kInvalid, "Выбранный ПВЗ только принимает посылки и не выдаёт их: укажите другой"},
	"ve_receiver_pickup_point_wrong_city":                    {kInvalid, "Пункт выдачи находится не в городе получателя"},
	"ve_receiver_pickup_point_incorrect":                     {kInvalid, "Указан некорректный пункт выдачи"},
	"v2_outdated_tariff":                                     {kInvalid, "Тариф СДЭК устарел: укажите другой тариф"},
	"err_pvz_with_tariff_mistake":                            {kInvalid, "Тариф не подходит для выбранного пункта выдачи: укажите другой тариф или ПВЗ"},
	"ERR_PVZ_WEIGHT_LIMIT":                                   {kInvalid, "Посылка тяжелее, чем принимает выбранный пункт выдачи"},
	"err_result_service_empty":                               {kInvalid, "По этому направлению выбранный тариф СДЭК недоступен"},
	"err_result_servicelist_empty":                           {kInvalid, "По этому направлению у СДЭК нет доступных тарифов"},
	"err_invalid_tariff_with_dimentions":                     {kInvalid, "Для выбранного тарифа превышены габариты или вес"},
	"err_invalid_tariff_with_datetimeordersend":              {kInvalid, "В эту дату выбранный тариф СДЭК недоступен"},
	"error_validate_tariff_not_supported_for_this_direction": {kInvalid, "Тариф не поддерживается на этом направлении"},
	"The pick-up point doesn't meet the requirements and no other suitable pick-up point found": {kInvalid, "Пункт выдачи не подходит для посылки, и другого подходящего СДЭК не нашёл"},
	"error_validate_receiver_*":                                             {kInvalid, "СДЭК не принял данные получателя"},
	"error_validate_receiver_name_incorrect_symbol":                         {kInvalid, "Имя получателя содержит недопустимый символ «/»"},
	"error_validate_receiver_name_only_digits":                              {kInvalid, "Имя получателя не может состоять только из цифр"},
	"error_validate_recipient_name_incorrect_symbol":                        {kInvalid, "Имя получателя содержит недопустимый символ «/»"},
	"error_validate_recipient_name_only_digits":                             {kInvalid, "Имя получателя не может состоять только из цифр"},
	"error_validate_receiver_city_cash_limit":                               {kInvalid, "Наложенный платёж больше лимита в городе получателя"},
	"error_validate_method_of_payment_receiver_city_limit_payment_exceeded": {kInvalid, "Наложенный платёж больше лимита в городе получателя"},
	"error_validate_package_*":                                              {kInvalid, "СДЭК не принял данные посылки"},
	"error_validate_package_number_not_unique":                              {kInvalid, "Номера мест в заказе должны различаться"},
	"error_validate_package_one_of_size_is_zero":                            {kInvalid, "Один из габаритов посылки равен нулю"},
	"error_validate_package_im_wrong_amount":                                {kInvalid, "Количество товара должно быть не больше 999"},
	"error_validate_package_count_to_pochtomat":                             {kInvalid, "Заказ до постамата должен быть одним местом"},
	"error_validate_postamat_*":                                             {kInvalid, "Посылка не подходит для постамата: одно место, не тяжелее 15 кг"},
	"error_validate_delivery_detail_postamat_part_delivery":                 {kInvalid, "Частичная доставка недоступна для постамата"},
	"ve_package_weight_too_small":                                           {kInvalid, "Вес посылки слишком мал для СДЭК"},
	"ve_package_weight_too_large":                                           {kInvalid, "Вес посылки слишком велик для СДЭК"},
	"error_validate_good_*":                                                 {kInvalid, "СДЭК не принял данные товара"},
	"error_validate_good_payment_not_suite":                                 {kInvalid, "Наложенный платёж за товар невозможен при типе заказа «доставка»"},
	"error_validate_goods_label_count_is_over_limit":                        {kInvalid, "Товар с маркировкой должен быть в количестве 1"},
	"v2_order_item_amount_incorrect":                                        {kInvalid, "Количество маркированного товара должно быть 1"},
	"error_internal_cannot_set_vat":                                         {kInvalid, "СДЭК не смог установить НДС"},
	"error_validate_online_shop_price_threshold_*":                          {kInvalid, "СДЭК не принял пороги стоимости доставки"},
	"error_dsd_validate_*":                                                  {kInvalid, "СДЭК не принял НДС порога стоимости доставки"},
	"error_validate_order_cash_on_delivery_*":                               {kInvalid, "Валюта наложенного платежа не подходит"},
	"error_validate_declare_cost_currency_not_equals_payer_currency":        {kInvalid, "Валюта объявленной стоимости не совпадает с валютой плательщика"},
	"error_validate_declared_cost_of_insurance_not_eq_to_dc_of_goods":       {kInvalid, "Страховая стоимость не совпадает со стоимостью товаров"},
	"error_validate_additional_service_*":                                   {kInvalid, "СДЭК не принял дополнительную услугу"},
	"ve_as_*":                                                               {kInvalid, "СДЭК не принял дополнительную услугу"},
	"ve_calc_as_*":                                                          {kInvalid, "СДЭК не принял дополнительную услугу"},
	"err_addservice_*":                                                      {kInvalid, "Выбраны несовместимые дополнительные услуги"},
	"VE_ADDITIONAL_SERVICE_UNAVAILABLE":                                     {kInvalid, "Дополнительная услуга недоступна"},
	"v2_unable_add_service":                                                 {kInvalid, "СДЭК не смог добавить дополнительную услугу"},
	"ve_currency_not_corresponds_to_*":                                      {kInvalid, "Валюта не подходит для договора или города"},

	// Our settings: the operator must act.
	CodeSenderLocation:                                           {kConfig, "СДЭК не распознал город отправителя из настроек (from_location)" + adminHint},
	CodeShipmentPointAbsent:                                      {kConfig, "СДЭК не знает пункт приёма отправлений из настроек (shipment_point)" + adminHint},
	"v2_shipment_address_multivalued":                            {kConfig, "В настройках указаны и пункт приёма, и адрес отправителя: нужно что-то одно" + adminHint},
	"err_invalid_tariff_with_ordertype":                          {kConfig, "Тариф не подходит к типу заказа (order_type) или договору" + adminHint},
	"error_validate_sender_*":                                    {kConfig, "СДЭК не принял данные отправителя из настроек" + adminHint},
	"error_validate_sender_name_incorrect_symbol":                {kConfig, "Имя отправителя в настройках содержит недопустимый символ «/»" + adminHint},
	"error_validate_sender_name_only_digits":                     {kConfig, "Имя отправителя в настройках не может состоять только из цифр" + adminHint},
	"error_validate_online_shop_seller_ownership_form_incorrect": {kConfig, "Неверная форма собственности продавца в настройках" + adminHint},
	"ve_payer_contract_status_incorrect":                         {kConfig, "Договор со СДЭК в статусе, при котором нельзя создавать заказы" + adminHint},
	"PA_17":                                                      {kConfig, "СДЭК не нашёл договор" + adminHint},

	// CDEK's own refusals.
	CodeDuplicateNumber:    {kRejected, "Заказ с номером {number} уже зарегистрирован в СДЭК"},
	CodeDuplicateNumberAlt: {kRejected, "Заказ с номером {number} уже зарегистрирован в СДЭК"},
	CodeDeleteStatus:       {kRejected, "СДЭК не удаляет заказ: он уже не в статусе «Создан»"},
	"error_validate_order_delete_documents_in_warehouse_is_not_empty": {kRejected, "СДЭК не удаляет заказ: по нему уже есть операции на складе"},
	"error_validate_order_delete_claims_is_not_empty":                 {kRejected, "СДЭК не удаляет заказ: по нему зарегистрирована претензия"},
	"v2_update_forbidden":        {kRejected, "СДЭК меняет заказ только в статусах «Принят» и «Создан»"},
	"v2_entity_has_final_status": {kRejected, "Заказ в СДЭК уже в конечном статусе"},
	"v2_package_id_is_empty":     {kRejected, "СДЭК: не указан идентификатор места при изменении заказа"},
	"orders_number_is_empty":     {kRejected, "СДЭК не смог сформировать накладную: все заказы в запросе некорректны"},
	"v2_entity_empty":            {kRejected, "СДЭК не смог сформировать накладную: все заказы в запросе некорректны"},
	"jv_the_number_of_orders_at_the_request_of_more_than_1000": {kRejected, "В запросе больше 1000 заказов"},
	"v2_wrong_interval":                                 {kRejected, "СДЭК: неверный интервал дат"},
	"v2_impossible_register_date":                       {kRejected, "СДЭК: для постамата нельзя назначить дату"},
	"v2_intake_exists_by_*":                             {kRejected, "Заявка на забор груза уже существует"},
	"error_validate_courier_invitation_time_expired":    {kRejected, "Вызвать курьера на это время уже нельзя"},
	"error_validate_build_ci_from_order":                {kRejected, "Заявку на забор можно создать только по новому заказу «от двери»"},
	"ve_ci_*":                                           {kRejected, "СДЭК не принял заявку на вызов курьера"},
	"ve_tariff_mode_*":                                  {kRejected, "СДЭК не принял заявку на вызов курьера по этому тарифу"},
	"ve_delivery_time_empty":                            {kRejected, "СДЭК: требуется время доставки"},
	"error_validate_dd_date_delivery_before_order_date": {kRejected, "Дата доставки раньше даты заказа"},
	"error_validate_reverse_*":                          {kRejected, "СДЭК не принял обратный заказ"},
	"error_internal_reverse_overweight":                 {kRejected, "Обратный заказ тяжелее 30 кг"},
	"ve_reverse_*":                                      {kRejected, "СДЭК не принял обратный заказ"},
	"ie_reverse_mode_not_supported":                     {kRejected, "СДЭК не поддерживает такой тип реверса"},
	"PA_02":                                             {kRejected, "Плановая дата доставки должна быть позже"},
	"PA_11":                                             {kRejected, "Грузоместо заказа удалено"},
}

// lookupCode finds a code in errorCodes: the exact code, else the longest
// "prefix*" entry.
func lookupCode(code string) (codeInfo, bool) {
	if ci, ok := errorCodes[code]; ok {
		return ci, true
	}
	best, bestLen := codeInfo{}, -1
	for k, ci := range errorCodes {
		p, ok := strings.CutSuffix(k, "*")
		if ok && strings.HasPrefix(code, p) && len(p) > bestLen {
			best, bestLen = ci, len(p)
		}
	}
	return best, bestLen >= 0
}

var fieldRe = regexp.MustCompile(`\[([^\]]+)\]`)

// russian explains one CDEK error to a manager. number is our order number.
func russian(it ErrorItem, number string) string {
	ci, ok := lookupCode(it.Code)
	if !ok {
		if it.Message != "" {
			return "СДЭК отклонил запрос: " + it.Message
		}
		return "СДЭК отклонил запрос"
	}
	msg := strings.ReplaceAll(ci.msg, "{number}", number)
	switch it.Code {
	case "v2_field_is_empty":
		if m := fieldRe.FindStringSubmatch(it.Message); m != nil {
			msg += " " + m[1]
		}
	case "v2_invalid_value_type", "v2_invalid_format":
		if it.Message != "" {
			msg += ": " + it.Message
		}
	}
	return msg
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
	return strings.Join(parts, "; ")
}

// kindPriority orders kinds from the most to the least cautious: when one
// answer carries several codes, the most cautious kind decides.
var kindPriority = []carriers.Kind{carriers.KindAmbiguous, carriers.KindTransient, carriers.KindConfig,
	carriers.KindRejected, carriers.KindInvalid, carriers.KindNotFound}

// codesKind classifies the codes of one synchronous answer. create says
// whether the request was POST /v2/orders: there a transient or unknown
// code leaves the outcome unknown (KindAmbiguous), elsewhere an unknown code
// is transient. ok is false when items is empty.
func codesKind(items []ErrorItem, create bool) (carriers.Kind, bool) {
	if len(items) == 0 {
		return 0, false
	}
	seen := map[carriers.Kind]bool{}
	for _, it := range items {
		ci, known := lookupCode(it.Code)
		k := ci.kind
		switch {
		case !known && create:
			k = carriers.KindAmbiguous
		case !known:
			k = carriers.KindTransient
		case k == carriers.KindTransient && create:
			k = carriers.KindAmbiguous
		}
		seen[k] = true
	}
	for _, k := range kindPriority {
		if seen[k] {
			return k, true
		}
	}
	return carriers.KindTransient, true
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

// statusInfo is what one CDEK order status means: for the registration
// (Status) and for tracking (Track), with CDEK's Russian name.
type statusInfo struct {
	status carriers.Status
	track  carriers.TrackStatus
	name   string
}

// orderStatuses maps CDEK order statuses ([SPEC-common] «Приложение 1.
// Статусы заказов», names as there) onto carrier-neutral ones. A key
// "CODE#N" is the status with reason_code N («Приложение 2»), which takes
// precedence over the bare code. A status not listed is StatusUnknown and
// TrackUnknown.
var orderStatuses = map[string]statusInfo{
	"ACCEPTED":                               {carriers.StatusPending, carriers.TrackUnknown, "Принят"},
	"CREATED":                                {carriers.StatusRegistered, carriers.TrackAccepted, "Создан"},
	"REMOVED":                                {carriers.StatusCancelled, carriers.TrackUnknown, "Удален"},
	"INVALID":                                {carriers.StatusRejected, carriers.TrackUnknown, "Некорректный заказ"},
	"RECEIVED_AT_SHIPMENT_WAREHOUSE":         {carriers.StatusInTransit, carriers.TrackInTransit, "Принят на склад отправителя"},
	"READY_FOR_SHIPMENT_IN_SENDER_CITY":      {carriers.StatusInTransit, carriers.TrackInTransit, "Готов к отправке в городе-отправителе"},
	"TAKEN_BY_TRANSPORTER_FROM_SENDER_CITY":  {carriers.StatusInTransit, carriers.TrackInTransit, "Сдан перевозчику в городе-отправителе"},
	"SENT_TO_RECIPIENT_CITY":                 {carriers.StatusInTransit, carriers.TrackInTransit, "Отправлен в город-получатель"},
	"ACCEPTED_IN_RECIPIENT_CITY":             {carriers.StatusInTransit, carriers.TrackInTransit, "Встречен в городе-получателе"},
	"ACCEPTED_AT_RECIPIENT_CITY_WAREHOUSE":   {carriers.StatusInTransit, carriers.TrackInTransit, "Принят на склад доставки"},
	"TAKEN_BY_COURIER":                       {carriers.StatusInTransit, carriers.TrackInTransit, "Выдан на доставку"},
	"ACCEPTED_AT_PICK_UP_POINT":              {carriers.StatusInTransit, carriers.TrackAtPickup, "Принят на склад до востребования"},
	"ACCEPTED_AT_TRANSIT_WAREHOUSE":          {carriers.StatusInTransit, carriers.TrackInTransit, "Принят на склад транзита"},
	"RETURNED_TO_SENDER_CITY_WAREHOUSE":      {carriers.StatusInTransit, carriers.TrackInTransit, "Возвращен на склад отправителя"},
	"RETURNED_TO_TRANSIT_WAREHOUSE":          {carriers.StatusInTransit, carriers.TrackInTransit, "Возвращен на склад транзита"},
	"RETURNED_TO_RECIPIENT_CITY_WAREHOUSE":   {carriers.StatusInTransit, carriers.TrackInTransit, "Возвращен на склад доставки"},
	"READY_FOR_SHIPMENT_IN_TRANSIT_CITY":     {carriers.StatusInTransit, carriers.TrackInTransit, "Выдан на отправку в городе-транзите"},
	"TAKEN_BY_TRANSPORTER_FROM_TRANSIT_CITY": {carriers.StatusInTransit, carriers.TrackInTransit, "Сдан перевозчику в городе-транзите"},
	"SENT_TO_TRANSIT_CITY":                   {carriers.StatusInTransit, carriers.TrackInTransit, "Отправлен в город-транзит"},
	"ACCEPTED_IN_TRANSIT_CITY":               {carriers.StatusInTransit, carriers.TrackInTransit, "Встречен в городе-транзите"},
	// On the way back to the sender's city: the parcel was not handed over.
	"SENT_TO_SENDER_CITY":                 {carriers.StatusInTransit, carriers.TrackNotDelivered, "Отправлен в город-отправитель"},
	"ACCEPTED_IN_SENDER_CITY":             {carriers.StatusInTransit, carriers.TrackNotDelivered, "Встречен в городе-отправителе"},
	"ENTERED_TO_TRANSIT_WAREHOUSE":        {carriers.StatusInTransit, carriers.TrackInTransit, "Поступил в город транзита"},
	"ENTERED_TO_RECIPIENT_CITY_WAREHOUSE": {carriers.StatusInTransit, carriers.TrackInTransit, "Поступил на склад доставки"},
	"ENTERED_TO_PICK_UP_POINT":            {carriers.StatusInTransit, carriers.TrackAtPickup, "Поступил на склад до востребования"},
	"IN_CUSTOMS_INTERNATIONAL":            {carriers.StatusInTransit, carriers.TrackInTransit, "Таможенное оформление в стране отправления"},
	"SHIPPED_TO_DESTINATION":              {carriers.StatusInTransit, carriers.TrackInTransit, "Отправлено в страну назначения"},
	"PASSED_TO_TRANSIT_CARRIER":           {carriers.StatusInTransit, carriers.TrackInTransit, "Передано транзитному перевозчику"},
	"IN_CUSTOMS_LOCAL":                    {carriers.StatusInTransit, carriers.TrackInTransit, "Таможенное оформление в стране назначения"},
	"CUSTOMS_COMPLETE":                    {carriers.StatusInTransit, carriers.TrackInTransit, "Таможенное оформление завершено"},
	"POSTOMAT_POSTED":                     {carriers.StatusInTransit, carriers.TrackAtPickup, "Заложен в постамат"},
	"POSTOMAT_SEIZED":                     {carriers.StatusInTransit, carriers.TrackNotDelivered, "Изъят из постамата курьером"},
	"POSTOMAT_RECEIVED":                   {carriers.StatusDelivered, carriers.TrackDelivered, "Изъят из постамата клиентом"},
	"DELIVERED":                           {carriers.StatusDelivered, carriers.TrackDelivered, "Вручен"},
	// «Не вручен» is final at CDEK, but the parcel travels back under a
	// return order; Track follows that order to TrackReturned.
	"NOT_DELIVERED":    {carriers.StatusReturned, carriers.TrackNotDelivered, "Не вручен"},
	"NOT_DELIVERED#26": {carriers.StatusReturned, carriers.TrackLost, "Не вручен: утерян"},
	"NOT_DELIVERED#27": {carriers.StatusReturned, carriers.TrackLost, "Не вручен: не востребован, утилизация"},
}

// lookupStatus finds a status with its reason code.
func lookupStatus(code, reason string) (statusInfo, bool) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if reason = strings.TrimSpace(reason); reason != "" {
		if si, ok := orderStatuses[code+"#"+reason]; ok {
			return si, true
		}
	}
	si, ok := orderStatuses[code]
	return si, ok
}

// MapStatus maps a CDEK order status code onto a carrier-neutral status.
func MapStatus(code string) carriers.Status {
	if si, ok := lookupStatus(code, ""); ok {
		return si.status
	}
	return carriers.StatusUnknown
}
