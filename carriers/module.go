package carriers

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/config/setting"
)

// Module plugs one carrier into shipbridge: its configuration section carriers.<Key>.*, and,
// through its Settings, the validation, the building and what `shipbridge check` says. The
// program's list of modules (app/wire.go, carrierModules) is the only place outside the
// carrier's package that names it: configuration loading, validation, building, check and setup
// all go through that list.
type Module interface {
	// Key is the carrier's key (Carrier.Name) and its configuration section, carriers.<Key>.
	Key() string
	// Title names the carrier to the operator in check's lines ("CDEK", "Почта России").
	Title() string
	// Defaults returns the settings used when neither a file nor the environment sets a key.
	// It must be a struct value (not a pointer) whose fields carry mapstructure tags: the keys
	// below carriers.<Key>. Every field gets a default and a SHIPBRIDGE_CARRIERS_<KEY>_*
	// environment variable; fields of type setting.Secret are secrets (redacted wherever the
	// configuration is printed).
	Defaults() Settings
	// ConfigYAML is the carrier's commented section of the shipped config.yaml, starting at the
	// line "<key>:" without indentation; `go generate ./app` puts it under "carriers:".
	ConfigYAML() string
}

// Settings are one carrier's settings, carriers.<key>.*, decoded into the carrier's own type
// (Module.Defaults). Methods have value receivers: a Settings is a value, copied with the
// configuration.
type Settings interface {
	// IsEnabled reports whether carriers.<key>.enabled is true. Only enabled carriers are
	// validated, built and checked.
	IsEnabled() bool
	// Complete returns the settings as loading leaves them, after the file and the environment:
	// e.g. CDEK's public test account filled in for its test server.
	Complete() Settings
	// Validate records on ch every problem of the settings, each naming its key
	// (carriers.<key>.…) and the fix. When ch.Credentials is false the secrets may be missing.
	Validate(ch *setting.Checker, shop Shop)
	// Profile returns the workflow's profile of the carrier with these settings. The common
	// rules read it: cash_on_delivery "attribute" needs moysklad.attributes.cash_on_delivery.
	Profile(shop Shop) Profile
	// Build makes the carrier from valid settings. It makes no call to the carrier.
	Build(env Env) (Carrier, error)
	// ReportCheck turns the answer of the carrier's Checker (err, nil when it passed) into
	// `shipbridge check`'s lines, each problem with its fix in terms of the carrier's keys.
	ReportCheck(r CheckReport, c Carrier, err error)
}

// Shop are the shop-wide settings a carrier's settings may need but do not own.
type Shop struct {
	// WeightUnit is the unit of product weights in MoySklad, "kg" or "g" (one shop, one unit);
	// "" when no carrier's settings name it.
	WeightUnit string
}

// ShopSettings is implemented by carrier settings that hold a shop-wide setting under their own
// key, where operators know it: carriers.cdek.weight_unit is the unit of every product weight in
// MoySklad, Почта России's included. The first carrier, in the order of the modules, whose
// settings name a value gives it, whether it is enabled or not.
type ShopSettings interface {
	Shop() Shop
}

// PackageSettings are the keys carriers.<key>.package.*: the single box of every shipment, and
// the weight used when the order's products weigh nothing.
type PackageSettings struct {
	LengthCM int `mapstructure:"length_cm"`
	WidthCM  int `mapstructure:"width_cm"`
	HeightCM int `mapstructure:"height_cm"`
	// DefaultWeightG is used when the products weigh nothing; 0 means such orders fail validation.
	DefaultWeightG int `mapstructure:"default_weight_g"`
}

// ValidateSizes records a problem for each size that is not positive; prefix is the section,
// e.g. "carriers.cdek.package".
func (p PackageSettings) ValidateSizes(ch *setting.Checker, prefix string) {
	ch.Positive(prefix+".length_cm", p.LengthCM)
	ch.Positive(prefix+".width_cm", p.WidthCM)
	ch.Positive(prefix+".height_cm", p.HeightCM)
}

// Observer receives one call per HTTP exchange with a carrier (metrics).
type Observer interface {
	ObserveRequest(method, endpoint string, status int, d time.Duration, err error)
}

// Env is what the program gives a carrier it builds.
type Env struct {
	// Logger is named after the carrier; it must never get secrets.
	Logger *zap.Logger
	// Now is the clock.
	Now func() time.Time
	// Observer, when not nil, is told about every HTTP exchange.
	Observer Observer
	// Shop are the shop-wide settings.
	Shop Shop
}

// CheckReport receives the lines `shipbridge check` prints about a carrier: ✓ passed, ! warning,
// ✗ failed with its fix.
type CheckReport interface {
	OK(format string, args ...any)
	Warn(format string, args ...any)
	// Bad reports a failed check; fix, when not empty, says what to do.
	Bad(fix, format string, args ...any)
}

// QuotaReporter is implemented by carriers that count requests against a quota (Почта России's
// daily quota): the program exports it on /metrics as last read.
type QuotaReporter interface {
	// QuotaUsage returns the requests used and allowed, and whether the quota was read yet.
	QuotaUsage() (used, allowed int64, known bool)
}

// NoAnswer reports whether err means the carrier did not answer: an ambiguous outcome, a
// deadline, or a failure to connect. check then points at the base URL and the network.
func NoAnswer(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	var op *net.OpError
	return KindOf(err) == KindAmbiguous || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) || errors.As(err, &op) || strings.Contains(err.Error(), "connection refused")
}
