// Package config loads shipbridge's configuration: defaults, an optional YAML file and
// SHIPBRIDGE_* environment variables, in increasing order of precedence, into one typed Config.
//
// Every key of the configuration has a default in Default, so every key can be overridden from
// the environment: the key upper-cased, with "." replaced by "_", prefixed with SHIPBRIDGE_
// (moysklad.token → SHIPBRIDGE_MOYSKLAD_TOKEN).
package config

import (
	"time"

	"github.com/shipbridge/shipbridge/carriers/pochta"
)

// EnvPrefix is the prefix of every environment variable that overrides a configuration key.
const EnvPrefix = "SHIPBRIDGE_"

// CDEKTestBaseURL is the address of CDEK's public test server, the default carriers.cdek.base_url.
const CDEKTestBaseURL = "https://api.edu.cdek.ru"

// CDEKProductionBaseURL is the address of CDEK's production API.
const CDEKProductionBaseURL = "https://api.cdek.ru"

// The public test account of CDEK, published in CDEK's API documentation ("Подключение к
// сервису"). It is shared by all integrators, works only on api.edu.cdek.ru, and is filled in by
// Load when carriers.cdek.base_url is the test server and no credentials are configured.
const (
	cdekTestClientID     = "wqGwiQx0gg8mLtiEKsUinjVSICCjtTEP"
	cdekTestClientSecret = "RmAmgvSgSl1yirlz9QupbzOJVqhCxcP5"
)

// Config is the whole configuration of shipbridge. The mapstructure tags are the configuration
// keys; see Default for the default of each.
type Config struct {
	// Schedule is the robfig/cron v3 spec of the poll cycle ("@every 1m", "*/5 * * * *").
	Schedule string `mapstructure:"schedule"`
	// WatchEvery is how often `run` asks MoySklad, with one small request, whether an order in a
	// trigger status changed since the last cycle (or the store whether a retry fell due), and if
	// so runs a cycle right away; 0 disables the watch. The default 12s keeps an idle shipbridge at
	// 6 of the 220 requests a user token may send per minute (5 checks + 1 scheduled cycle).
	WatchEvery time.Duration `mapstructure:"watch_every"`
	// Workers is how many orders one cycle may process concurrently (never two steps of the same order).
	Workers int `mapstructure:"workers"`
	// SweepEvery is how often a cycle also lists every order in a trigger status, to catch anything
	// the updated-cursor could have missed.
	SweepEvery time.Duration `mapstructure:"sweep_every"`
	// RetryBase and RetryMax bound the backoff of an order after a transient carrier or MoySklad
	// failure: the first retry after about RetryBase, doubling up to RetryMax (with jitter).
	RetryBase time.Duration `mapstructure:"retry_base"`
	RetryMax  time.Duration `mapstructure:"retry_max"`
	// Overlap is how far before the stored cursor each incremental poll starts again, so that orders
	// updated in the same second as the cursor, or with a clock skew, are not skipped.
	Overlap time.Duration `mapstructure:"overlap"`
	// OnceTimeout bounds the whole cycle of `shipbridge once`, including the wait for the carrier's
	// asynchronous answers.
	OnceTimeout time.Duration `mapstructure:"once_timeout"`
	// ShutdownTimeout is how long `shipbridge run` waits, after SIGTERM/SIGINT, for the cycle in flight
	// to finish its current step before it gives up and exits non-zero.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`

	Store    Store    `mapstructure:"store"`
	Log      Log      `mapstructure:"log"`
	HTTP     HTTP     `mapstructure:"http"`
	MoySklad MoySklad `mapstructure:"moysklad"`
	Carriers Carriers `mapstructure:"carriers"`
	Tracking Tracking `mapstructure:"tracking"`

	// File is the configuration file that was read, or "" when only defaults and the environment
	// were used. It is not a configuration key.
	File string `mapstructure:"-"`
}

// Store configures the embedded bbolt database.
type Store struct {
	// Path is the bbolt file; it is created with mode 0600 in a directory that must exist.
	Path string `mapstructure:"path"`
	// HistoryRetention is how long the full history of a finished order is kept after its
	// last event; older history is compacted into one summary event. 0 keeps it forever.
	HistoryRetention time.Duration `mapstructure:"history_retention"`
}

// Log configures logging to stderr.
type Log struct {
	// Level is one of debug, info, warn, error.
	Level string `mapstructure:"level"`
	// Format is console (human-readable) or json (for journald/log collectors).
	Format string `mapstructure:"format"`
}

// HTTP configures the health, metrics and status endpoints of `shipbridge run`.
type HTTP struct {
	// Listen is the host:port to listen on; empty disables the HTTP server.
	Listen string `mapstructure:"listen"`
}

// MoySklad configures the MoySklad JSON API 1.2 client and the workflow's names in MoySklad.
type MoySklad struct {
	// BaseURL is the API root, https://api.moysklad.ru/api/remap/1.2.
	BaseURL string `mapstructure:"base_url"`
	// Token is the bearer token of a MoySklad user (or a solution). Secret.
	Token Secret `mapstructure:"token"`
	// RequestsPerWindow and Window are the rate limit: at most RequestsPerWindow requests per Window.
	RequestsPerWindow int           `mapstructure:"requests_per_window"`
	Window            time.Duration `mapstructure:"window"`
	// MaxParallel is the maximum number of requests in flight (MoySklad allows 5).
	MaxParallel int `mapstructure:"max_parallel"`
	// States are the names of the customerorder statuses of the workflow.
	States States `mapstructure:"states"`
	// Attributes are the names of the customerorder custom attributes of the workflow.
	Attributes Attributes `mapstructure:"attributes"`
}

// States are the names of the customerorder statuses (PRODUCT.md §1).
type States struct {
	Ready      string `mapstructure:"ready"`
	Registered string `mapstructure:"registered"`
	Failed     string `mapstructure:"failed"`
	Delete     string `mapstructure:"delete"`
	Deleted    string `mapstructure:"deleted"`
	NotDeleted string `mapstructure:"not_deleted"`
	// Delivered and Returned are set by tracking; empty disables the move.
	Delivered string `mapstructure:"delivered"`
	Returned  string `mapstructure:"returned"`
}

// Attributes are the names of the customerorder custom attributes (PRODUCT.md §1).
type Attributes struct {
	Carrier        string `mapstructure:"carrier"`
	PickupPoint    string `mapstructure:"pickup_point"`
	Tariff         string `mapstructure:"tariff"`
	TrackingNumber string `mapstructure:"tracking_number"`
	Waybill        string `mapstructure:"waybill"`
	Error          string `mapstructure:"error"`
	// CashOnDelivery names the boolean attribute that marks an order to be paid on delivery; used
	// only by carriers whose cash_on_delivery is "attribute".
	CashOnDelivery string `mapstructure:"cash_on_delivery"`
	// DeliveryStatus is the string attribute tracking writes the parcel's status into.
	DeliveryStatus string `mapstructure:"delivery_status"`
}

// Tracking configures the following of registered parcels (PRODUCT.md rule 13).
type Tracking struct {
	// Every is how often each live shipment is asked about; 0 disables tracking.
	Every time.Duration `mapstructure:"every"`
	// MaxAge ends the tracking of shipments registered longer ago.
	MaxAge time.Duration `mapstructure:"max_age"`
}

// Carriers holds the configuration of every supported carrier.
type Carriers struct {
	CDEK   CDEK   `mapstructure:"cdek"`
	Pochta Pochta `mapstructure:"pochta"`
}

// Pochta configures Почта России's «Отправка» API carrier (PRODUCT.md §2b, §4). There is no test
// server: BaseURL is production, and tests and the demo use a simulator.
type Pochta struct {
	// Enabled turns the carrier on (off by default).
	Enabled bool `mapstructure:"enabled"`
	// Names are the values of the order's carrier attribute that select Pochta (case-insensitive).
	Names []string `mapstructure:"names"`
	// BaseURL is the API root, https://otpravka-api.pochta.ru.
	BaseURL string `mapstructure:"base_url"`
	// Token is the application token (Authorization: AccessToken …); Login and Password are the
	// cabinet user's (X-User-Authorization: Basic …). All three are secrets.
	Token    Secret `mapstructure:"token"`
	Login    Secret `mapstructure:"login"`
	Password Secret `mapstructure:"password"`
	// PostofficeCode is the acceptance office (postoffice-code), one of the account's shipping points.
	PostofficeCode string `mapstructure:"postoffice_code"`
	// MailType is the mail-type of every parcel, e.g. POSTAL_PARCEL or ONLINE_PARCEL.
	MailType string `mapstructure:"mail_type"`
	// DeclaredValue sends the goods' value (category WITH_DECLARED_VALUE).
	DeclaredValue bool `mapstructure:"declared_value"`
	// CashOnDelivery is auto (collect the unpaid amount on delivery) or never.
	CashOnDelivery string `mapstructure:"cash_on_delivery"`
	// Package is the box of every parcel and the default weight, as for CDEK.
	Package Package `mapstructure:"package"`
}

// CDEK configures the CDEK API v2 carrier.
type CDEK struct {
	// Enabled turns the carrier on.
	Enabled bool `mapstructure:"enabled"`
	// Names are the values of the order's carrier attribute that select CDEK (case-insensitive).
	Names []string `mapstructure:"names"`
	// BaseURL is the API root: CDEKTestBaseURL or CDEKProductionBaseURL.
	BaseURL string `mapstructure:"base_url"`
	// ClientID and ClientSecret are the OAuth client credentials. Both default to CDEK's public test
	// account when BaseURL is the test server. ClientSecret is secret.
	ClientID     Secret `mapstructure:"client_id"`
	ClientSecret Secret `mapstructure:"client_secret"`
	// OrderType is 1 (online store, "интернет-магазин") or 2 (delivery, "доставка").
	OrderType int `mapstructure:"order_type"`
	// TariffCode is the default tariff when the order has a pickup point; DoorTariffCode when it has
	// only an address. The order's tariff attribute overrides both.
	TariffCode     int `mapstructure:"tariff_code"`
	DoorTariffCode int `mapstructure:"door_tariff_code"`
	// ShipmentPoint is the CDEK office where parcels are handed over; when empty, FromLocation is used.
	ShipmentPoint string   `mapstructure:"shipment_point"`
	FromLocation  Location `mapstructure:"from_location"`
	Sender        Sender   `mapstructure:"sender"`
	Package       Package  `mapstructure:"package"`
	// WeightUnit is the unit of the product weights in MoySklad: kg or g.
	WeightUnit string `mapstructure:"weight_unit"`
	// CashOnDelivery is auto (collect the unpaid amount, sum − payedSum, on delivery), never, or
	// attribute (collect it only from orders whose attribute moysklad.attributes.cash_on_delivery
	// is ticked).
	CashOnDelivery string `mapstructure:"cash_on_delivery"`
	// PrintCopies is the number of waybill copies on one PDF.
	PrintCopies int `mapstructure:"print_copies"`
}

// Location is a sender address for door pick-up (CDEK from_location).
type Location struct {
	// Code is CDEK's city code (GET /v2/location/cities), the most reliable way to name the city.
	Code        int    `mapstructure:"code"`
	PostalCode  string `mapstructure:"postal_code"`
	City        string `mapstructure:"city"`
	Address     string `mapstructure:"address"`
	CountryCode string `mapstructure:"country_code"`
}

// IsZero reports whether no part of the address is set (the country code alone does not count).
func (l Location) IsZero() bool {
	return l.Code == 0 && l.PostalCode == "" && l.City == "" && l.Address == ""
}

// Sender is the shipper's contact (CDEK sender; required for order type 2).
type Sender struct {
	Name    string `mapstructure:"name"`
	Company string `mapstructure:"company"`
	Phone   string `mapstructure:"phone"`
}

// Package is the single package of every shipment: its dimensions, and the weight used when the
// order's products have no weight.
type Package struct {
	LengthCM int `mapstructure:"length_cm"`
	WidthCM  int `mapstructure:"width_cm"`
	HeightCM int `mapstructure:"height_cm"`
	// DefaultWeightG is used when the products weigh nothing; 0 means such orders fail validation.
	DefaultWeightG int `mapstructure:"default_weight_g"`
}

// Default returns the configuration used when neither a file nor the environment sets a key.
// Secrets are empty; Load fills in CDEK's public test account for the test server.
func Default() Config {
	return Config{
		Schedule:        "@every 1m",
		WatchEvery:      12 * time.Second,
		Workers:         128,
		SweepEvery:      15 * time.Minute,
		RetryBase:       30 * time.Second,
		RetryMax:        30 * time.Minute,
		Overlap:         2 * time.Minute,
		OnceTimeout:     2 * time.Minute,
		ShutdownTimeout: time.Minute,
		Store:           Store{Path: "shipbridge.db"},
		Log:             Log{Level: "info", Format: "console"},
		HTTP:            HTTP{Listen: "127.0.0.1:8080"},
		MoySklad: MoySklad{
			BaseURL:           "https://api.moysklad.ru/api/remap/1.2",
			RequestsPerWindow: 11,
			Window:            3 * time.Second,
			MaxParallel:       4,
			States: States{
				Ready:      "Готов к отгрузке",
				Registered: "Зарегистрирован перевозчиком",
				Failed:     "Ошибка оформления доставки",
				Delete:     "Удалить заказ на доставку",
				Deleted:    "Заказ на доставку удален",
				NotDeleted: "Заказ на доставку НЕ удален",
				Delivered:  "Доставлен",
				Returned:   "Возврат",
			},
			Attributes: Attributes{
				Carrier:        "Служба доставки",
				PickupPoint:    "Код ПВЗ",
				Tariff:         "Тариф доставки",
				TrackingNumber: "Трек-номер",
				Waybill:        "Накладная",
				Error:          "Ошибка доставки",
				CashOnDelivery: "Наложенный платёж",
				DeliveryStatus: "Статус доставки",
			},
		},
		Carriers: Carriers{CDEK: CDEK{
			Enabled:        true,
			Names:          []string{"СДЭК", "CDEK"},
			BaseURL:        CDEKTestBaseURL,
			OrderType:      1,
			TariffCode:     136,
			DoorTariffCode: 137,
			FromLocation:   Location{CountryCode: "RU"},
			Package:        Package{LengthCM: 20, WidthCM: 15, HeightCM: 10},
			WeightUnit:     "kg",
			CashOnDelivery: "auto",
			PrintCopies:    2,
		}, Pochta: Pochta{
			Names:          []string{"Почта России", "Почта"},
			BaseURL:        "https://otpravka-api.pochta.ru",
			MailType:       "POSTAL_PARCEL",
			DeclaredValue:  true,
			CashOnDelivery: "auto",
			Package:        Package{LengthCM: 20, WidthCM: 15, HeightCM: 10},
		}},
		Tracking: Tracking{Every: time.Hour, MaxAge: 1440 * time.Hour},
	}
}

// Secret is a string that must never be printed: its String, GoString and MarshalJSON return
// "[redacted]" (or "" when empty), so a Secret that reaches a log line, an error or %v stays
// hidden. Use Value to get the secret itself.
type Secret string

const redacted = "[redacted]"

// Value returns the secret itself, for the one place that sends it to its service.
func (s Secret) Value() string { return string(s) }

// String returns "[redacted]" for a non-empty secret and "" for an empty one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString makes %#v redact the secret too.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// MarshalJSON encodes the redacted form, so reflection-based loggers cannot leak the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText encodes the redacted form, for text and YAML encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// PochtaConfig maps carriers.pochta.* onto the carrier package's configuration, secrets included:
// use it only to build the carrier. Product weights are in the shop's unit,
// carriers.cdek.weight_unit (one shop, one unit).
func (c Config) PochtaConfig() pochta.Config {
	p := c.Carriers.Pochta
	cfg := pochta.DefaultConfig()
	cfg.Enabled = p.Enabled
	cfg.Names = p.Names
	cfg.BaseURL = p.BaseURL
	cfg.Token, cfg.Login, cfg.Password = p.Token.Value(), p.Login.Value(), p.Password.Value()
	cfg.PostofficeCode = p.PostofficeCode
	cfg.MailType = p.MailType
	cfg.DeclaredValue = p.DeclaredValue
	cfg.CashOnDelivery = p.CashOnDelivery
	if u := c.Carriers.CDEK.WeightUnit; u != "" {
		cfg.WeightUnit = u
	}
	cfg.Package = pochta.Package{LengthCM: p.Package.LengthCM, WidthCM: p.Package.WidthCM, HeightCM: p.Package.HeightCM,
		DefaultWeightG: p.Package.DefaultWeightG}
	return cfg
}
