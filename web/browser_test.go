package web

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/shipbridge/shipbridge/store"
)

// requireBrowserEnv, when set (CI sets it), turns a missing Chromium into a
// failure instead of a skip.
const requireBrowserEnv = "CHROMIUM_REQUIRED"

// chromium returns the path of a Chromium binary, or skips the test (fails
// it under CHROMIUM_REQUIRED).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(requireBrowserEnv) != "" {
		t.Fatalf("%s is set but no Chromium is installed: apt-get install -y chromium chromium-driver (.ci/run does)", requireBrowserEnv)
	}
	t.Skipf("browser test skipped: no Chromium installed (apt-get install -y chromium chromium-driver; set %s=1 to make this a failure)", requireBrowserEnv)
	return ""
}

// browser starts a headless Chromium with a fresh profile and JavaScript
// off in the page (the page must work without it), and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	noScripts := chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return chromedp.Void{}, err
	})
	if _, err := chromedp.Run(bctx, noScripts); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return bctx
}

// do runs browser steps, failing the test on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Steps(steps...)); err != nil {
		t.Fatal(err)
	}
}

// read runs one browser action that reads a value.
func read[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// names reads the order names of the table on the current page.
func names(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return read(t, ctx, chromedp.EvaluateAsDevTools[[]string](`Array.from(document.querySelectorAll('tr.order td.name')).map(e => e.textContent)`))
}

// navigating runs steps that make the page navigate (a form submitted, a
// link followed), waits for the new page, and checks that its URL has want.
func navigating(t *testing.T, ctx context.Context, want string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatal(err)
	}
	if resp == nil || resp.Status != 200 || !strings.Contains(resp.URL, want) {
		t.Fatalf("navigation: %+v, want a 200 page at a URL with %q", resp, want)
	}
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#shown")))
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func TestOrdersPageInABrowser(t *testing.T) {
	ctx := browser(t)
	base, st := seedOrders(t)
	if err := st.Save(store.OrderRecord{ID: "id-evil", Name: `<img src=x onerror="document.title='pwned'">`,
		Carrier: "cdek", Phase: "none", Error: `<b>bold</b>`}); err != nil {
		t.Fatal(err)
	}

	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#orders")))
	all := names(t, ctx)
	if len(all) != 9 {
		t.Errorf("all orders: %q", all)
	}
	// Escaping: the name is text, not an image, and no handler ran.
	images := read(t, ctx, chromedp.EvaluateAsDevTools[int](`document.images.length + document.querySelectorAll('td.err b').length`))
	title := read(t, ctx, chromedp.Title())
	if images != 0 || title == "pwned" || !contains(all, `<img src=x onerror="document.title='pwned'">`) {
		t.Errorf("order data became markup: elements=%d title=%q rows=%q", images, title, all)
	}
	if n := read(t, ctx, chromedp.Text(chromedp.CSS("#count-failed b"))); n != "2" {
		t.Errorf("failed count = %q, want 2", n)
	}
	href := read(t, ctx, chromedp.EvaluateAsDevTools[string](
		`Array.from(document.querySelectorAll('tr.order')).find(r => r.querySelector('td.name').textContent === 'Почта 7').querySelector('td.tracking a').href`))
	if href != "https://www.pochta.ru/tracking?barcode=80081234567890" {
		t.Errorf("Почта tracking link = %q", href)
	}
	if c := read(t, ctx, chromedp.EvaluateAsDevTools[string](
		`Array.from(document.querySelectorAll('tr.order')).find(r => r.querySelector('td.name').textContent === 'Почта 7').querySelector('td.carrier').textContent`)); c != "Почта России" {
		t.Errorf("carrier shown as %q", c)
	}

	// The filter: choose a state and press the button — a plain GET form.
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#state"), "failed"))
	navigating(t, ctx, "state=failed", chromedp.Click(chromedp.CSS("#apply")))
	failed := names(t, ctx)
	if strings.Join(sorted(failed), ",") != strings.Join(sorted([]string{"00105", `<img src=x onerror="document.title='pwned'">`}), ",") {
		t.Errorf("filter «Ошибка»: rows %q", failed)
	}
	if v := read(t, ctx, chromedp.Value(chromedp.CSS("#state"))); v != "failed" {
		t.Errorf("the filter forgot its state: %q", v)
	}

	// The search: type a part of a name, press Enter.
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#q")), chromedp.SendKeys(chromedp.CSS("#q"), "почта"))
	navigating(t, ctx, "q=%D0%BF%D0%BE%D1%87%D1%82%D0%B0", chromedp.SendKeys(chromedp.CSS("#q"), "\r"))
	if got := names(t, ctx); strings.Join(got, ",") != "Почта 7" {
		t.Errorf("search «почта»: rows %q", got)
	}

	// A count at the top is a link to its filter.
	navigating(t, ctx, "state=retry", chromedp.Click(chromedp.CSS("#count-retry")))
	if got := names(t, ctx); strings.Join(got, ",") != "00106" {
		t.Errorf("«Ждут повтора»: rows %q", got)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
