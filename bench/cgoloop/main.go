// cgoloop: a tight loop of trivial cgo calls that times itself.
// Prints "ns_per_call <float>" after -n calls on one goroutine.
package main

/*
static int noop(int x) { return x + 1; }
*/
import "C"

import (
	"flag"
	"fmt"
	"time"
)

func main() {
	n := flag.Int("n", 200000, "cgo calls to make")
	flag.Parse()
	// Warm up: first calls pay for thread creation and page faults.
	for i := 0; i < 1000; i++ {
		C.noop(C.int(i))
	}
	start := time.Now()
	for i := 0; i < *n; i++ {
		C.noop(C.int(i))
	}
	elapsed := time.Since(start)
	fmt.Printf("ns_per_call %.1f\n", float64(elapsed.Nanoseconds())/float64(*n))
}
