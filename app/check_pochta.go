package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/pochta"
	"github.com/shipbridge/shipbridge/config"
)

// pochtaTitle is how check names Почта России.
const pochtaTitle = "Почта России"

// reportPochtaCheck turns the answer of Почта России's Check (the daily quota, then the account's
// shipping points: reference §2.11 allows only these two side-effect-free calls) into check's
// lines: the quota, the shipping point, or what is wrong with the fix.
func reportPochtaCheck(r *checkReport, cfg config.Config, c carriers.Carrier, where string, err error) {
	env := func(key string) string { return config.EnvName("carriers.pochta." + key) }
	pc := cfg.Carriers.Pochta
	q, known := pochtaQuota(c)
	var ce *carriers.Error
	errors.As(err, &ce)
	switch {
	case err == nil:
		r.ok("%s: %s accepts the token and the login", pochtaTitle, where)
		switch {
		case !known || q.Allowed <= 0:
			r.warn("%s: the daily request quota is unknown (GET /1.0/settings/limit gave no allowed-count)", pochtaTitle)
		case q.Ratio() >= pochta.DefaultQuotaWarnRatio:
			r.warn("%s: %d of the %d requests of today's quota are used (%.0f %%): tracking pauses at %.0f %% so that registrations keep the rest — ask Почта России to raise the quota if this is usual",
				pochtaTitle, q.Used, q.Allowed, 100*q.Ratio(), 100*pochta.DefaultQuotaWarnRatio)
		default:
			r.ok("%s: %d of the %d requests of today's quota are used (%.0f %%)", pochtaTitle, q.Used, q.Allowed, 100*q.Ratio())
		}
		r.ok("%s: shipping point %s (%s) is enabled and accepts mail type %s", pochtaTitle, pc.PostofficeCode, "carriers.pochta.postoffice_code", pc.MailType)
	case ce != nil && ce.QuotaExhausted:
		used := ""
		if known && q.Allowed > 0 {
			used = fmt.Sprintf(" (%d of %d requests used)", q.Used, q.Allowed)
		}
		r.bad("wait for the quota to renew (a Moscow day), or ask Почта России to raise it; until then no shipment can be registered",
			"%s at %s: today's request quota is spent%s: %v", pochtaTitle, where, used, err)
	case ce != nil && ce.Code == "ILLEGAL_POSTOFFICE_CODE":
		r.bad("set "+env("postoffice_code")+" to the index of one of the account's shipping points (see the «Отправка» cabinet)",
			"%s: %s", pochtaTitle, ce.Detail)
	case ce != nil && ce.Code == "POSTOFFICE_DISABLED":
		r.bad("enable the shipping point in the Почта России cabinet, or set "+env("postoffice_code")+" to another one",
			"%s: %s", pochtaTitle, ce.Detail)
	case ce != nil && ce.Code == "UNAVAILABLE_MAIL_TYPE":
		r.bad("set "+env("mail_type")+" to a mail type the shipping point accepts, or have Почта России enable "+pc.MailType+" for it",
			"%s: %s", pochtaTitle, ce.Detail)
	case ce != nil && ce.Kind == carriers.KindConfig && ce.HTTPStatus == 407:
		r.bad("check "+env("base_url")+" (the API root, "+pochta.DefaultBaseURL+")",
			"%s at %s does not know the method: %v", pochtaTitle, where, err)
	case carriers.KindOf(err) == carriers.KindConfig:
		r.bad("set "+env("token")+" to the application token and "+env("login")+" and "+env("password")+" to the cabinet user's login and password of the «Отправка» cabinet",
			"%s at %s refused the credentials: %v", pochtaTitle, where, err)
	case carriers.KindOf(err) == carriers.KindAmbiguous || errors.Is(err, context.DeadlineExceeded) || isTransport(err):
		r.bad("check "+env("base_url")+" and the network (no answer)", "%s at %s: %v", pochtaTitle, where, err)
	default:
		r.bad("check "+env("base_url")+"; Почта России may be unavailable, try again later",
			"%s at %s: the check failed: %v", pochtaTitle, where, err)
	}
}

// pochtaQuota is the quota the carrier read during its check.
func pochtaQuota(c carriers.Carrier) (pochta.Quota, bool) {
	if qc, ok := c.(quotaCarrier); ok {
		return qc.Quota()
	}
	return pochta.Quota{}, false
}
