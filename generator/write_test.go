package generator

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestDiffSeparateHunks: a stale wrapper with two changes far apart diffs
// as two small hunks, not as one hunk of everything between them.
func TestDiffSeparateHunks(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n"
	b := "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\nY\n15\n16\n"
	want := `--- a
+++ b
@@ -1,5 +1,5 @@
 1
-2
+X
 3
 4
 5
@@ -11,5 +11,6 @@
 11
 12
 13
-14
+Y
 15
+16
`
	if got := Diff("a", "b", []byte(a), []byte(b)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := Diff("a", "b", []byte(a), []byte(a)); got != "" {
		t.Errorf("equal files: %q", got)
	}
}

// TestDiffLinesShortest checks that diffLines' script turns a into b and
// is as short as a longest common subsequence allows.
func TestDiffLinesShortest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gen := func() []string {
		out := make([]string, r.IntN(25))
		for i := range out {
			out[i] = string(rune('a' + r.IntN(4)))
		}
		return out
	}
	for range 2000 {
		a, b := gen(), gen()
		var gotA, gotB []string
		edits := 0
		for _, op := range diffLines(a, b) {
			switch op.kind {
			case ' ':
				if a[op.a] != b[op.b] {
					t.Fatalf("%q %q: kept lines %d and %d differ", a, b, op.a, op.b)
				}
				gotA, gotB = append(gotA, a[op.a]), append(gotB, b[op.b])
			case '-':
				gotA = append(gotA, a[op.a])
				edits++
			case '+':
				gotB = append(gotB, b[op.b])
				edits++
			}
		}
		if strings.Join(gotA, "") != strings.Join(a, "") || strings.Join(gotB, "") != strings.Join(b, "") {
			t.Fatalf("%q %q: the script does not turn one into the other", a, b)
		}
		if want := len(a) + len(b) - 2*lcs(a, b); edits != want {
			t.Fatalf("%q %q: %d edits, want %d", a, b, edits, want)
		}
	}
}

func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}
