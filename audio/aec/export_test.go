package aec

// ReadReference exposes the reference's timeline to the tests.
func ReadReference(r *Reference, pos int64, n int) []int16 {
	out := make([]int16, n)
	r.read(pos, out)
	return out
}
