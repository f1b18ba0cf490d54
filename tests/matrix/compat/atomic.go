// Package compatatomic stands in for sync/atomic's typed values (atomic.Int64
// and friends, added in go1.19) when tests/matrix/build-fixture.sh builds the
// fixtures with go1.17 or go1.18. The builder rewrites the fixture's
// `import "sync/atomic"` to this package, so only what the fixtures use is
// here; anything else fails to compile, loudly.
package compatatomic

import "sync/atomic"

// Int64 is sync/atomic.Int64 (go1.19) on top of the go1.17 functions.
type Int64 struct{ v int64 }

func (x *Int64) Load() int64           { return atomic.LoadInt64(&x.v) }
func (x *Int64) Store(val int64)       { atomic.StoreInt64(&x.v, val) }
func (x *Int64) Add(delta int64) int64 { return atomic.AddInt64(&x.v, delta) }

// The function API exists in every Go version: pass it through, so a file
// mixing both styles still builds.
var (
	AddInt32            = atomic.AddInt32
	AddInt64            = atomic.AddInt64
	AddUint32           = atomic.AddUint32
	AddUint64           = atomic.AddUint64
	LoadInt32           = atomic.LoadInt32
	LoadInt64           = atomic.LoadInt64
	LoadUint32          = atomic.LoadUint32
	LoadUint64          = atomic.LoadUint64
	StoreInt32          = atomic.StoreInt32
	StoreInt64          = atomic.StoreInt64
	StoreUint32         = atomic.StoreUint32
	StoreUint64         = atomic.StoreUint64
	CompareAndSwapInt32 = atomic.CompareAndSwapInt32
	CompareAndSwapInt64 = atomic.CompareAndSwapInt64
)
