// Package config loads shipbridge's configuration: defaults, an optional YAML file and
// SHIPBRIDGE_* environment variables, in increasing order of precedence, into one typed Config.
//
// Every key of the configuration has a default in Default, so every key can be overridden from
// the environment: the key upper-cased, with "." replaced by "_", prefixed with SHIPBRIDGE_
// (moysklad.token → SHIPBRIDGE_MOYSKLAD_TOKEN).
//
// config owns the common keys (schedule, store, log, http, moysklad, tracking). Each carrier owns
// its section carriers.<key>.*: the carrier modules (carriers.Module) given to Load and Default
// bring their settings types, defaults, validation and secrets; config imports no carrier
// package. What config and the carriers share (Secret, Problem, the Checker, EnvName) is in the
// leaf package config/setting.
package config

import (
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/config/setting"
)

// EnvPrefix is the prefix of every environment variable that overrides a configuration key.
const EnvPrefix = setting.EnvPrefix

// Secret is a string that is never printed (see setting.Secret); every configuration field of
// this type is a secret.
type Secret = setting.Secret

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
	// Carriers holds each carrier's settings, carriers.<key>.*, in the carrier's own type: the
	// carrier modules given to Load or Default decide which carriers there are.
	Carriers Carriers `mapstructure:"-"`
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
	// only by carriers whose profile collects by it (carriers.Profile.CashOnDelivery "attribute").
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

// Default returns the configuration used when neither a file nor the environment sets a key,
// with the carriers of mods (each at its Module.Defaults). Secrets are empty; Load completes
// the carriers' settings (Settings.Complete: CDEK's public test account on its test server).
// It panics when two modules share a key or a settings type, or a module's settings are not a
// struct: the list of modules is the program's, not the operator's.
func Default(mods ...carriers.Module) Config {
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
		Carriers: newCarriers(mods),
		Tracking: Tracking{Every: time.Hour, MaxAge: 1440 * time.Hour},
	}
}
