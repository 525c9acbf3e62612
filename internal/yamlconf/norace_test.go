//go:build !race

package yamlconf

// raceEnabled is set under -race, which slows everything down ten times:
// timing bounds do not apply.
const raceEnabled = false
