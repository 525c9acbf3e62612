// Package browsertest tests resgen's status page (runtime/statusz) in a
// real browser: Chromium, headless, driven over the DevTools protocol by
// chromedp. It is a module of its own so that runtime/statusz, and resgen's
// own module, need no browser driver. `make test` runs it; it skips when no
// Chromium is installed, and fails then under RESGEN_INTEGRATION=require.
//
// RESGEN_SCREENSHOT=/abs/path.png saves the page, as the README shows it
// (docs/statusz.png), while the breaker is forced open.
package browsertest
