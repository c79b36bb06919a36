package moyskladtest

import "github.com/shipbridge/shipbridge/moysklad"

// DefaultStates are the order statuses of PRODUCT.md §1, by config key
// (moysklad.states.*), with their default names.
var DefaultStates = []struct{ Key, Name string }{
	{"ready", "Готов к отгрузке"},
	{"registered", "Зарегистрирован перевозчиком"},
	{"failed", "Ошибка оформления доставки"},
	{"delete", "Удалить заказ на доставку"},
	{"deleted", "Заказ на доставку удален"},
	{"not_deleted", "Заказ на доставку НЕ удален"},
}

// DefaultAttributes are the order attributes of PRODUCT.md §1, by config key
// (moysklad.attributes.*), with their default names and MoySklad types.
var DefaultAttributes = []struct{ Key, Name, Type string }{
	{"carrier", "Служба доставки", "string"},
	{"pickup_point", "Код ПВЗ", "string"},
	{"tariff", "Тариф доставки", "long"},
	{"tracking_number", "Трек-номер", "string"},
	{"waybill", "Накладная", "file"},
	{"error", "Ошибка доставки", "text"},
}

// Seeded is what Seed created, keyed by config key.
type Seeded struct {
	States     map[string]moysklad.State
	Attributes map[string]moysklad.AttributeDef
	// New is the ordinary "Новый" status orders start in.
	New moysklad.State
}

// Seed creates a fresh account's "Новый" status plus the default statuses and
// attributes of PRODUCT.md §1, for workflow tests and `shipbridge demo`.
func Seed(s *Server) Seeded {
	out := Seeded{States: map[string]moysklad.State{}, Attributes: map[string]moysklad.AttributeDef{}}
	out.New = s.AddState("Новый", 15106326)
	colors := []int{10667543, 8767198, 15280409, 15106326, 8825440, 15280409}
	for i, st := range DefaultStates {
		out.States[st.Key] = s.AddState(st.Name, colors[i])
	}
	for _, a := range DefaultAttributes {
		out.Attributes[a.Key] = s.AddAttribute(a.Name, a.Type)
	}
	return out
}
