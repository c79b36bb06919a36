package poller

import "github.com/shipbridge/shipbridge/moysklad/moyskladtest"

type orderEdit = moyskladtest.OrderEdit

func moyskladtestCounterparty(name, phone string) moyskladtest.CounterpartySeed {
	return moyskladtest.CounterpartySeed{Name: name, Phone: phone}
}
