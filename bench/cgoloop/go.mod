module cgotrace.bench/cgoloop

go 1.21
