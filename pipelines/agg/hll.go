package agg

import (
	"math"
	"math/bits"
	"slices"
)

// hllPrecision is the HyperLogLog register index width: 2^11 registers,
// a standard error of about 2.3%.
const (
	hllPrecision = 11
	hllRegisters = 1 << hllPrecision
	// hllExactMax is how many distinct hashes are kept exactly before
	// switching to registers; below it the count is exact.
	hllExactMax = 256
)

// Distinct counts distinct values approximately. It keeps exact hashes
// while there are few (so small counts are exact and state is small) and
// switches to HyperLogLog registers beyond hllExactMax.
type Distinct struct {
	exact []uint64 // sorted, while regs == nil
	regs  []uint8
}

// AddHash adds the 64-bit hash of a value.
func (d *Distinct) AddHash(h uint64) {
	if d.regs == nil {
		i, found := slices.BinarySearch(d.exact, h)
		if found {
			return
		}
		d.exact = slices.Insert(d.exact, i, h)
		if len(d.exact) > hllExactMax {
			d.toRegisters()
		}
		return
	}
	d.addReg(h)
}

func (d *Distinct) addReg(h uint64) {
	idx := h >> (64 - hllPrecision)
	rest := h<<hllPrecision | 1<<(hllPrecision-1) // guard bit bounds the rank
	rank := uint8(bits.LeadingZeros64(rest)) + 1
	if rank > d.regs[idx] {
		d.regs[idx] = rank
	}
}

func (d *Distinct) toRegisters() {
	d.regs = make([]uint8, hllRegisters)
	for _, h := range d.exact {
		d.addReg(h)
	}
	d.exact = nil
}

// Merge adds everything o has seen.
func (d *Distinct) Merge(o *Distinct) {
	if o.regs == nil {
		for _, h := range o.exact {
			d.AddHash(h)
		}
		return
	}
	if d.regs == nil {
		d.toRegisters()
	}
	for i, r := range o.regs {
		if r > d.regs[i] {
			d.regs[i] = r
		}
	}
}

// Count estimates the number of distinct values.
func (d *Distinct) Count() int64 {
	if d.regs == nil {
		return int64(len(d.exact))
	}
	m := float64(hllRegisters)
	sum, zeros := 0.0, 0
	for _, r := range d.regs {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	est := alpha * m * m / sum
	if est <= 2.5*m && zeros > 0 { // small range: linear counting
		est = m * math.Log(m/float64(zeros))
	}
	return int64(math.Round(est))
}
