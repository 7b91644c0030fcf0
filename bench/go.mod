module github.com/calloop-go/calloop/bench

go 1.26.0

replace github.com/calloop-go/calloop => ../

require (
	github.com/calloop-go/calloop v0.0.0-00010101000000-000000000000
	golang.org/x/sys v0.50.0
)
