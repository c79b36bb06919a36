package config

import (
	"testing"
	"time"
)

func TestWatchEvery(t *testing.T) {
	if got := Default().WatchEvery; got != 12*time.Second {
		t.Errorf("default watch_every = %s, want 12s", got)
	}
	for _, c := range []struct {
		d  time.Duration
		ok bool
	}{{0, true}, {time.Second, true}, {12 * time.Second, true}, {-time.Second, false}, {500 * time.Millisecond, false}} {
		cfg := validConfig()
		cfg.WatchEvery = c.d
		ps := problems(cfg.Validate())
		if c.ok && len(ps) != 0 {
			t.Errorf("watch_every %s: %+v", c.d, ps)
		}
		if !c.ok && (len(ps) != 1 || ps[0].Key != "watch_every") {
			t.Errorf("watch_every %s: problems %+v, want one on watch_every", c.d, ps)
		}
	}
	// The environment sets it like any key.
	cfg, err := Load("", func(k string) (string, bool) {
		if k == EnvPrefix+"WATCH_EVERY" {
			return "0", true
		}
		return "", false
	})
	if err != nil || cfg.WatchEvery != 0 {
		t.Errorf("SHIPBRIDGE_WATCH_EVERY=0: %s, %v", cfg.WatchEvery, err)
	}
}
