package cdek

// Code generated from CDEK's "Приложение 4. Тарифы СДЭК" (the official
// OpenAPI "Клиентский протокол интеграции с логистикой", tags[common]
// description; copy AardSkelige/horsebio-insights:openapi_api_v2_integration.json
// @ 865b1d9823b6f7a2a5989eb067e8b0375538cbec, changelog up to 12 Feb 2026).
// Each row: tariff code → where the parcel starts and where it ends.
// Regenerate by re-reading that appendix; do not edit by hand.

// tariffModes maps a CDEK tariff code onto its delivery mode («Режим
// доставки»: дверь, склад, постамат at each end).
var tariffModes = map[int]tariffMode{
	3:    {modeDoor, modeDoor},           // Супер-экспресс до 18
	7:    {modeDoor, modeDoor},           // Международный экспресс документы дверь-дверь
	8:    {modeDoor, modeDoor},           // Международный экспресс грузы дверь-дверь
	19:   {modeDoor, modeDoor},           // Экономичный экспресс дверь-дверь
	57:   {modeDoor, modeDoor},           // Супер-экспресс до 9
	58:   {modeDoor, modeDoor},           // Супер-экспресс до 10
	59:   {modeDoor, modeDoor},           // Супер-экспресс до 12
	60:   {modeDoor, modeDoor},           // Супер-экспресс до 14
	61:   {modeDoor, modeDoor},           // Супер-экспресс до 16
	62:   {modeWarehouse, modeWarehouse}, // Магистральный экспресс склад-склад
	121:  {modeDoor, modeDoor},           // Магистральный экспресс дверь-дверь
	122:  {modeWarehouse, modeDoor},      // Магистральный экспресс склад-дверь
	123:  {modeDoor, modeWarehouse},      // Магистральный экспресс дверь-склад
	136:  {modeWarehouse, modeWarehouse}, // Посылка склад-склад
	137:  {modeWarehouse, modeDoor},      // Посылка склад-дверь
	138:  {modeDoor, modeWarehouse},      // Посылка дверь-склад
	139:  {modeDoor, modeDoor},           // Посылка дверь-дверь
	184:  {modeDoor, modeDoor},           // E-com Standard дверь-дверь
	185:  {modeWarehouse, modeWarehouse}, // E-com Standard склад-склад
	186:  {modeWarehouse, modeDoor},      // E-com Standard склад-дверь
	187:  {modeDoor, modeWarehouse},      // E-com Standard дверь-склад
	231:  {modeDoor, modeDoor},           // Экономичная посылка дверь-дверь
	232:  {modeDoor, modeWarehouse},      // Экономичная посылка дверь-склад
	233:  {modeWarehouse, modeDoor},      // Экономичная посылка склад-дверь
	234:  {modeWarehouse, modeWarehouse}, // Экономичная посылка склад-склад
	291:  {modeWarehouse, modeWarehouse}, // E-com Express склад-склад
	293:  {modeDoor, modeDoor},           // E-com Express дверь-дверь
	294:  {modeWarehouse, modeDoor},      // E-com Express склад-дверь
	295:  {modeDoor, modeWarehouse},      // E-com Express дверь-склад
	358:  {modeWarehouse, modeWarehouse}, // Фулфилмент выдача
	366:  {modeDoor, modePostamat},       // Посылка дверь-постамат
	368:  {modeWarehouse, modePostamat},  // Посылка склад-постамат
	378:  {modeWarehouse, modePostamat},  // Экономичная посылка склад-постамат
	480:  {modeDoor, modeDoor},           // Экспресс дверь-дверь
	481:  {modeDoor, modeWarehouse},      // Экспресс дверь-склад
	482:  {modeWarehouse, modeDoor},      // Экспресс склад-дверь
	483:  {modeWarehouse, modeWarehouse}, // Экспресс склад-склад
	485:  {modeDoor, modePostamat},       // Экспресс дверь-постамат
	486:  {modeWarehouse, modePostamat},  // Экспресс склад-постамат
	497:  {modeDoor, modePostamat},       // E-com Standard дверь-постамат
	498:  {modeWarehouse, modePostamat},  // E-com Standard склад-постамат
	509:  {modeDoor, modePostamat},       // E-com Express дверь-постамат
	510:  {modeWarehouse, modePostamat},  // E-com Express склад-постамат
	533:  {modeDoor, modeDoor},           // СДЭК документы дверь-дверь
	534:  {modeDoor, modeWarehouse},      // СДЭК документы дверь-склад
	535:  {modeWarehouse, modeDoor},      // СДЭК документы склад-дверь
	536:  {modeWarehouse, modeWarehouse}, // СДЭК документы склад-склад
	605:  {modePostamat, modeDoor},       // Экспресс постамат-дверь
	606:  {modePostamat, modeWarehouse},  // Экспресс постамат-склад
	607:  {modePostamat, modePostamat},   // Экспресс постамат-постамат
	676:  {modeDoor, modeDoor},           // Супер-экспресс до 10.00
	677:  {modeDoor, modeWarehouse},      // Супер-экспресс до 10.00
	678:  {modeWarehouse, modeDoor},      // Супер-экспресс до 10.00
	679:  {modeWarehouse, modeWarehouse}, // Супер-экспресс до 10.00
	686:  {modeDoor, modeDoor},           // Супер-экспресс до 12.00
	687:  {modeDoor, modeWarehouse},      // Супер-экспресс до 12.00
	688:  {modeWarehouse, modeDoor},      // Супер-экспресс до 12.00
	689:  {modeWarehouse, modeWarehouse}, // Супер-экспресс до 12.00
	696:  {modeDoor, modeDoor},           // Супер-экспресс до 14.00
	697:  {modeDoor, modeWarehouse},      // Супер-экспресс до 14.00
	698:  {modeWarehouse, modeDoor},      // Супер-экспресс до 14.00
	699:  {modeWarehouse, modeWarehouse}, // Супер-экспресс до 14.00
	706:  {modeDoor, modeDoor},           // Супер-экспресс до 16.00
	707:  {modeDoor, modeWarehouse},      // Супер-экспресс до 16.00
	708:  {modeWarehouse, modeDoor},      // Супер-экспресс до 16.00
	709:  {modeWarehouse, modeWarehouse}, // Супер-экспресс до 16.00
	716:  {modeDoor, modeDoor},           // Супер-экспресс до 18.00
	717:  {modeDoor, modeWarehouse},      // Супер-экспресс до 18.00
	718:  {modeWarehouse, modeDoor},      // Супер-экспресс до 18.00
	719:  {modeWarehouse, modeWarehouse}, // Супер-экспресс до 18.00
	722:  {modeWarehouse, modePostamat},  // Супер-экспресс до 18
	748:  {modeDoor, modeDoor},           // Сборный груз дверь-дверь
	749:  {modeDoor, modeWarehouse},      // Сборный груз дверь-склад
	750:  {modeWarehouse, modeDoor},      // Сборный груз склад-дверь
	751:  {modeWarehouse, modeWarehouse}, // Сборный груз склад-склад
	777:  {modeDoor, modeWarehouse},      // Супер-экспресс до 12
	778:  {modeWarehouse, modeDoor},      // Супер-экспресс до 12
	779:  {modeWarehouse, modeWarehouse}, // Супер-экспресс до 12
	786:  {modeDoor, modeWarehouse},      // Супер-экспресс до 14
	787:  {modeWarehouse, modeDoor},      // Супер-экспресс до 14
	788:  {modeWarehouse, modeWarehouse}, // Супер-экспресс до 14
	795:  {modeDoor, modeWarehouse},      // Супер-экспресс до 16
	796:  {modeWarehouse, modeDoor},      // Супер-экспресс до 16
	797:  {modeWarehouse, modeWarehouse}, // Супер-экспресс до 16
	804:  {modeDoor, modeWarehouse},      // Супер-экспресс до 18
	805:  {modeWarehouse, modeDoor},      // Супер-экспресс до 18
	806:  {modeWarehouse, modeWarehouse}, // Супер-экспресс до 18
	2261: {modeDoor, modeDoor},           // Documents Express
	2262: {modeDoor, modeWarehouse},      // Documents Express
	2263: {modeWarehouse, modeDoor},      // Documents Express
	2264: {modeWarehouse, modeWarehouse}, // Documents Express
	2266: {modeDoor, modePostamat},       // Documents Express
	2267: {modeWarehouse, modePostamat},  // Documents Express
	2321: {modeDoor, modeWarehouse},      // Экономичный экспресс дверь-склад
	2322: {modeWarehouse, modeDoor},      // Экономичный экспресс склад-дверь
	2323: {modeWarehouse, modeWarehouse}, // Экономичный экспресс склад-склад
	2360: {modeDoor, modeDoor},           // Доставка день в день
	2483: {modeDoor, modeDoor},           // E-com Express.
	2485: {modeWarehouse, modeWarehouse}, // E-com Express.
	2536: {modeWarehouse, modeWarehouse}, // Один офис (ИМ)
}
