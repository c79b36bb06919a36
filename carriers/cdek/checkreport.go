package cdek

import (
	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/config/setting"
)

// ReportCheck turns the answer of the adapter's Check (a token, an order lookup and the shipment
// point, see Carrier.Check) into check's line: what answered, or what is wrong with the fix in
// terms of carriers.cdek.*.
func (s Settings) ReportCheck(r carriers.CheckReport, _ carriers.Carrier, err error) {
	where := s.BaseURL
	if IsTestServer(where) {
		where += " (CDEK's test server)"
	}
	env := func(key string) string { return setting.EnvName(keyPrefix + key) }
	switch {
	case err == nil:
		r.OK("%s: %s issued a token and answered an order lookup", title, where)
	case carriers.KindOf(err) == carriers.KindConfig:
		r.Bad("set "+env("client_id")+" and "+env("client_secret")+" to the API keys of your "+title+" account",
			"%s at %s refused the credentials: %v", title, where, err)
	case carriers.NoAnswer(err):
		r.Bad("check "+env("base_url")+" and the network (no answer)", "%s at %s: %v", title, where, err)
	default:
		r.Bad("check "+env("base_url")+"; "+title+" may be unavailable, try again later",
			"%s at %s: the check failed: %v", title, where, err)
	}
}
