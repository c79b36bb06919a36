package pochta

import (
	"errors"
	"fmt"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/config/setting"
)

// ReportCheck turns the answer of the adapter's Check (the daily quota, then the account's
// shipping points: reference §2.11 allows only these two side-effect-free calls) into check's
// lines: the quota, the shipping point, or what is wrong with the fix in terms of
// carriers.pochta.*.
func (s Settings) ReportCheck(r carriers.CheckReport, c carriers.Carrier, err error) {
	where := s.BaseURL
	var q Quota
	var known bool
	if pc, ok := c.(*Carrier); ok {
		q, known = pc.Quota()
	}
	var ce *carriers.Error
	errors.As(err, &ce)
	switch {
	case err == nil:
		s.reportGood(r, where, q, known)
	case ce != nil && ce.QuotaExhausted:
		used := ""
		if known && q.Allowed > 0 {
			used = fmt.Sprintf(" (%d of %d requests used)", q.Used, q.Allowed)
		}
		r.Bad("wait for the quota to renew (a Moscow day), or ask Почта России to raise it; until then no shipment can be registered",
			"%s at %s: today's request quota is spent%s: %v", title, where, used, err)
	case ce != nil && (ce.Code == "ILLEGAL_POSTOFFICE_CODE" || ce.Code == "POSTOFFICE_DISABLED" || ce.Code == "UNAVAILABLE_MAIL_TYPE"):
		s.reportShippingPoint(r, ce)
	default:
		reportFailure(r, where, ce, err)
	}
}

// reportGood reports a passed check: the credentials, the quota and the shipping point.
func (s Settings) reportGood(r carriers.CheckReport, where string, q Quota, known bool) {
	r.OK("%s: %s accepts the token and the login", title, where)
	switch {
	case !known || q.Allowed <= 0:
		r.Warn("%s: the daily request quota is unknown (GET /1.0/settings/limit gave no allowed-count)", title)
	case q.Ratio() >= DefaultQuotaWarnRatio:
		r.Warn("%s: %d of the %d requests of today's quota are used (%.0f %%): tracking pauses at %.0f %% so that registrations keep the rest — ask Почта России to raise the quota if this is usual",
			title, q.Used, q.Allowed, 100*q.Ratio(), 100*DefaultQuotaWarnRatio)
	default:
		r.OK("%s: %d of the %d requests of today's quota are used (%.0f %%)", title, q.Used, q.Allowed, 100*q.Ratio())
	}
	r.OK("%s: shipping point %s (%s) is enabled and accepts mail type %s", title, s.PostofficeCode, keyPrefix+"postoffice_code", s.MailType)
}

// reportShippingPoint reports a shipping point that is not the account's, is disabled, or does
// not accept the mail type.
func (s Settings) reportShippingPoint(r carriers.CheckReport, ce *carriers.Error) {
	env := func(key string) string { return setting.EnvName(keyPrefix + key) }
	switch ce.Code {
	case "ILLEGAL_POSTOFFICE_CODE":
		r.Bad("set "+env("postoffice_code")+" to the index of one of the account's shipping points (see the «Отправка» cabinet)",
			"%s: %s", title, ce.Detail)
	case "POSTOFFICE_DISABLED":
		r.Bad("enable the shipping point in the Почта России cabinet, or set "+env("postoffice_code")+" to another one",
			"%s: %s", title, ce.Detail)
	default: // UNAVAILABLE_MAIL_TYPE
		r.Bad("set "+env("mail_type")+" to a mail type the shipping point accepts, or have Почта России enable "+s.MailType+" for it",
			"%s: %s", title, ce.Detail)
	}
}

// reportFailure reports a refused method or credentials, no answer, or another failure.
func reportFailure(r carriers.CheckReport, where string, ce *carriers.Error, err error) {
	env := func(key string) string { return setting.EnvName(keyPrefix + key) }
	switch {
	case ce != nil && ce.Kind == carriers.KindConfig && ce.HTTPStatus == 407:
		r.Bad("check "+env("base_url")+" (the API root, "+DefaultBaseURL+")",
			"%s at %s does not know the method: %v", title, where, err)
	case carriers.KindOf(err) == carriers.KindConfig:
		r.Bad("set "+env("token")+" to the application token and "+env("login")+" and "+env("password")+" to the cabinet user's login and password of the «Отправка» cabinet",
			"%s at %s refused the credentials: %v", title, where, err)
	case carriers.NoAnswer(err):
		r.Bad("check "+env("base_url")+" and the network (no answer)", "%s at %s: %v", title, where, err)
	default:
		r.Bad("check "+env("base_url")+"; Почта России may be unavailable, try again later",
			"%s at %s: the check failed: %v", title, where, err)
	}
}
