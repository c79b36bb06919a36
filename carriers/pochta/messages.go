package pochta

import (
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/shipbridge/shipbridge/carriers"
)

// codeMessages are Russian texts for codes whose answer may come without a
// description: the texts of [PSDK] Otpravka/ErrorCode.cs @ 15b73589 (spec
// #/enums-errors), except where marked.
var codeMessages = map[string]string{
	"EMPTY_POSTOFFICE_CODE":     "Индекс приемного почтового отделения не задан",
	"ILLEGAL_POSTOFFICE_CODE":   "Индекс приемного почтового отделения некорректен",
	"NO_AVAILABLE_POSTOFFICES":  "Нет доступных точек сдачи",
	"UNAVAILABLE_MAIL_TYPE":     "Тип отправления для данного направления не подключен в настройках пользователя",
	"RESTRICTED_MAIL_CATEGORY":  "Для создания отправлений с наложенным платежом необходимо указать номер ЕСПП в настройках сервиса. Обратитесь к вашему персональному менеджеру в Почте или напишите письмо на почтовый ящик support.otpravka@russianpost.ru",
	"NOT_INSURED_PAYMENT":       "Наложенный платеж превышает объявленную ценность",
	"READONLY_STATE":            "Изменения в партии недопустимы",
	"DELIVERY_IN_PROGRESS":      "Отправление уже отправлено",
	"ALL_SHIPMENTS_SENT":        "Все отправления уже отправлены",
	"NOT_FOUND":                 "Отправление не найдено",
	"PAST_DUE_DATE":             "Дата отправки просрочена",
	"OFFLINE_BALANCE_FORBIDDEN": "Договор не допускает оплату партии без онлайн-баланса", // shipbridge's wording: no source text
	"BARCODE_ERROR":             "Ошибка при получении ШПИ",
	"CODE_1372":                 "Доставка по указанному маршруту не осуществляется",
	"ILLEGAL_INITIALS":          "ФИО некорректно",
	"EMPTY_TELADDRESS":          "Телефон получателя является обязательным для данного вида отправления",
	"UNDEFINED":                 "Неопределенная ошибка",
	"DIFFERENT_MAIL_TYPE":       "Типы почтовых отправлений не совпадают",
	"DIFFERENT_MAIL_CATEGORY":   "Категории почтовых отправления не совпадают",
	"ACCESS_VIOLATION":          "Нарушение доступа",
	"IMP13N_ERROR":              "Ошибка имперсонализации",
	"TARIFF_ERROR":              "Ошибка при расчете тарифа",
	"EMPTY_INDEX_TO":            "Почтовый индекс не указан",
}

// configCodes are refusals caused by the account's settings, not by the
// order: the operator must act (reference §2.1, §2.9).
var configCodes = map[string]bool{
	"EMPTY_POSTOFFICE_CODE":     true,
	"ILLEGAL_POSTOFFICE_CODE":   true,
	"NO_AVAILABLE_POSTOFFICES":  true,
	"ILLEGAL_POSTCODE":          true,
	"UNAVAILABLE_MAIL_TYPE":     true,
	"RESTRICTED_MAIL_CATEGORY":  true,
	"OFFLINE_BALANCE_FORBIDDEN": true,
	"ACCESS_VIOLATION":          true,
	"IMP13N_ERROR":              true,
}

// transientCodes: nothing was created and the same request may succeed
// later. BARCODE_ERROR «Ошибка при получении ШПИ» (transient: UNCONFIRMED).
var transientCodes = map[string]bool{
	"BARCODE_ERROR": true,
}

// dataCode reports whether the code is about the order's data, which a
// manager can fix: the EMPTY_* and ILLEGAL_* family and a few others.
func dataCode(code string) bool {
	if configCodes[code] {
		return false
	}
	switch code {
	case "ILLEGAL_MASS_EXCESS", "INSR_VALUE_EXCEEDS_MAX", "NOT_INSURED_PAYMENT", "CODE_1372", "DIMENSION_NOT_SUPPORTED":
		return true
	}
	return strings.HasPrefix(code, "EMPTY_") || strings.HasPrefix(code, "ILLEGAL_")
}

func hasCyrillic(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Cyrillic, r) {
			return true
		}
	}
	return false
}

// russian is the manager's text for one error: Pochta's own description
// when it is Russian, else a known text, else the code.
func russian(it ErrorItem) string {
	msg := strings.TrimSpace(it.Description)
	if !hasCyrillic(msg) {
		if m, ok := codeMessages[it.Code]; ok {
			msg = m
		} else if msg == "" || msg == "null" {
			msg = "Почта России вернула ошибку " + it.Code
		} else {
			msg = "Почта России: " + msg
		}
	}
	if d := strings.TrimSpace(it.Details); d != "" && !strings.Contains(msg, d) {
		switch it.Code {
		case "EMPTY_POSTOFFICE_CODE", "ILLEGAL_POSTOFFICE_CODE", "NO_AVAILABLE_POSTOFFICES":
			msg += " (допустимые индексы: " + d + ")"
		default:
			msg += " (" + d + ")"
		}
	}
	return msg
}

// russianAll joins every error's text, each with its code, so the manager
// sees all of them at once (rule 4: the carrier's own reason).
func russianAll(items []ErrorItem) string {
	seen := map[string]bool{}
	var parts []string
	for _, it := range items {
		m := russian(it)
		if it.Code != "" && !strings.Contains(m, it.Code) {
			m = it.Code + ": " + m
		}
		if !seen[m] {
			seen[m] = true
			parts = append(parts, m)
		}
	}
	return strings.Join(parts, "; ")
}

func joinCodes(items []ErrorItem) string {
	var out []string
	for _, it := range items {
		c := it.Code
		if it.SubCode != "" {
			c += "/" + it.SubCode
		}
		out = append(out, c)
	}
	return strings.Join(out, ",")
}

func joinDescriptions(items []ErrorItem) string {
	var out []string
	for _, it := range items {
		if it.Description != "" {
			out = append(out, it.Description)
		}
	}
	return strings.Join(out, "; ")
}

// batchStatusNames are Pochta's batch statuses in Russian ([PSDK]
// BatchStatus.cs, spec #/enums-base-batch-status).
var batchStatusNames = map[string]string{
	"CREATED":  "Партия создана",
	"FROZEN":   "Партия в процессе приема, редактирование запрещено",
	"ACCEPTED": "Партия принята в отделении связи",
	"SENT":     "По заказам в партии существуют данные в сервисе трекинга",
	"ARCHIVED": "Партия находится в архиве",
}

// operationNames are the tracking operation types ([LAPAY] StatusList.php,
// reference §2.8).
var operationNames = map[int]string{
	1: "Приём", 2: "Вручение", 3: "Возврат", 4: "Досылка почты", 5: "Невручение", 6: "Хранение",
	7: "Временное хранение", 8: "Обработка", 12: "Неудачная попытка вручения",
	15: "Передача на временное хранение", 16: "Уничтожение", 17: "Передача вложения на баланс", 18: "Регистрация утраты",
}

// MapOperation maps the last tracking operation (type, attribute) onto a
// carrier-neutral parcel status, per reference §2.8's table: 1 accepted at
// the office → in transit; 2 Вручение → delivered, except 2.2/2.4 (handed
// back to the sender) → returned; 3 Возврат → not delivered (on its way
// back); 5.1 Утрачено, 5.2 Изъято, 16, 17, 18 → lost; 6 Хранение and 12
// failed attempt → at the pickup office; 7 and 15 (storage of an unclaimed
// parcel) → not delivered; anything else → in transit.
func MapOperation(typ, attr int) carriers.TrackStatus {
	switch typ {
	case 0:
		return carriers.TrackUnknown
	case 1:
		return carriers.TrackInTransit
	case 2:
		if attr == 2 || attr == 4 {
			return carriers.TrackReturned
		}
		return carriers.TrackDelivered
	case 3:
		return carriers.TrackNotDelivered
	case 5:
		if attr == 1 || attr == 2 {
			return carriers.TrackLost
		}
		return carriers.TrackInTransit
	case 16, 17, 18:
		return carriers.TrackLost
	case 6, 12:
		return carriers.TrackAtPickup
	case 7, 15:
		return carriers.TrackNotDelivered
	}
	return carriers.TrackInTransit
}

// trackingFrom reads the tracking fields of a batched order.
func trackingFrom(ref string, o Order) carriers.Tracking {
	t := carriers.Tracking{Reference: ref}
	typText := strings.TrimSpace(string(o.LastOperType))
	if typText == "" || strings.EqualFold(typText, "UNKNOWN") {
		// In a batch, not handed over yet.
		t.Status = carriers.TrackAccepted
		t.Code = "BATCH_" + strings.ToUpper(string(o.BatchStatus))
		t.Name = "Зарегистрирован, не передан в отделение"
		if n := batchStatusNames[strings.ToUpper(string(o.BatchStatus))]; n != "" {
			t.Name = n
		}
		return t
	}
	typ, err1 := strconv.Atoi(typText)
	attr, _ := strconv.Atoi(strings.TrimSpace(string(o.LastOperAttr)))
	t.Name = strings.TrimSpace(string(o.HumanOperationName))
	t.At = parseTime(string(o.LastOperDate))
	if err1 != nil {
		// A textual operation type (one schema declares a string enum whose
		// values no source lists): judge by the Russian operation name.
		t.Code = typText
		t.Status = byName(t.Name)
		return t
	}
	t.Code = strconv.Itoa(typ) + "." + strconv.Itoa(attr)
	t.Status = MapOperation(typ, attr)
	if t.Name == "" {
		t.Name = operationNames[typ]
	}
	return t
}

func byName(name string) carriers.TrackStatus {
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "вручение отправителю"):
		return carriers.TrackReturned
	case strings.Contains(n, "вручен"):
		return carriers.TrackDelivered
	case strings.Contains(n, "возврат"):
		return carriers.TrackNotDelivered
	case strings.Contains(n, "утрач") || strings.Contains(n, "утрат"):
		return carriers.TrackLost
	case n == "":
		return carriers.TrackUnknown
	}
	return carriers.TrackInTransit
}

// parseTime reads last-oper-date, whose format no source records
// (reference §2.8): RFC 3339 with or without fraction or zone, or a date.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05-0700", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 1e11 {
		return time.UnixMilli(ms).UTC()
	}
	return time.Time{}
}
