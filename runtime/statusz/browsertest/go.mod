module github.com/resgen-dev/resgen/runtime/statusz/browsertest

go 1.26.8

require (
	github.com/chromedp/chromedp v0.23.1
	github.com/resgen-dev/resgen v0.0.0-00010101000000-000000000000
)

require (
	github.com/chromedp/cdproto v0.160.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)

replace github.com/resgen-dev/resgen => ../../..
