package translate

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// binaryUnits maps the accepted memory and size suffixes to their factor.
// Lowercase single letters follow Compose (and Docker), where "512m" is
// 512 MiB; the "i" forms follow Kubernetes.
var binaryUnits = map[string]int64{
	"":   1,
	"b":  1,
	"k":  1 << 10,
	"m":  1 << 20,
	"g":  1 << 30,
	"t":  1 << 40,
	"Ki": 1 << 10,
	"Mi": 1 << 20,
	"Gi": 1 << 30,
	"Ti": 1 << 40,
}

// ParseBytes parses a memory amount or volume size into bytes. It accepts
// a whole number of bytes, optionally followed by a binary unit: "b", or
// "k", "m", "g", "t" as Compose reads them (512m is 512 MiB), or "Ki",
// "Mi", "Gi", "Ti" as Kubernetes reads them. Units whose meaning differs
// between Compose and Kubernetes ("M", "G", "MB", ...) and fractions are
// refused with an error saying what to write instead, so that the two
// translations always mean the same number of bytes.
func ParseBytes(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	digits, unit := s[:i], s[i:]
	if digits == "" {
		return 0, fmt.Errorf("%q is not an amount of bytes (write for example 512Mi or 1Gi)", s)
	}
	if strings.HasPrefix(unit, ".") {
		return 0, fmt.Errorf("%q: fractions are not accepted; use a smaller unit (1536Mi, not 1.5Gi)", s)
	}
	f, ok := binaryUnits[unit]
	if !ok {
		switch strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "b")) {
		case "k", "m", "g", "t", "ki", "mi", "gi", "ti":
			l := string(unit[0])
			return 0, fmt.Errorf("%q is ambiguous: Compose reads %s as a power of 2, Kubernetes as a power of 10; write %s%si (binary)",
				s, unit, digits, strings.ToUpper(l))
		}
		return 0, fmt.Errorf("%q has an unknown unit %q (use Ki, Mi, Gi, Ti or k, m, g, t)", s, unit)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/f {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * f, nil
}

// formatBytes writes n with the largest binary unit that divides it
// exactly, Kubernetes style ("512Mi") or Compose style ("512m").
func formatBytes(n int64, compose bool) string {
	units := []struct {
		f        int64
		k8s, cmp string
	}{{1 << 40, "Ti", "t"}, {1 << 30, "Gi", "g"}, {1 << 20, "Mi", "m"}, {1 << 10, "Ki", "k"}}
	for _, u := range units {
		if n != 0 && n%u.f == 0 {
			if compose {
				return strconv.FormatInt(n/u.f, 10) + u.cmp
			}
			return strconv.FormatInt(n/u.f, 10) + u.k8s
		}
	}
	if compose {
		return strconv.FormatInt(n, 10) + "b"
	}
	return strconv.FormatInt(n, 10)
}

// ParseCPU parses a CPU amount into millicores: cores as a decimal
// number ("0.5", "2", "1.25") or millicores ("500m"). Amounts finer than
// one millicore are refused: neither platform can express them.
func ParseCPU(s string) (int64, error) {
	if m, ok := strings.CutSuffix(s, "m"); ok {
		if m == "" || strings.TrimLeft(m, "0123456789") != "" {
			return 0, fmt.Errorf("%q is not a CPU amount (write for example 0.5 or 500m)", s)
		}
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil || n > 1<<40 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return n, nil
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || strings.TrimLeft(whole, "0123456789") != "" || strings.TrimLeft(frac, "0123456789") != "" || strings.Count(s, ".") > 1 {
		return 0, fmt.Errorf("%q is not a CPU amount (write for example 0.5 or 500m)", s)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 3 {
		return 0, fmt.Errorf("%q is finer than one millicore (0.001)", s)
	}
	var n int64
	if whole != "" {
		w, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || w > 1<<30 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		n = w * 1000
	}
	if frac != "" {
		f, _ := strconv.ParseInt(frac+strings.Repeat("0", 3-len(frac)), 10, 64)
		n += f
	}
	return n, nil
}

// formatCPU writes millicores as Kubernetes ("500m", "2") or Compose
// ("0.5", "2") reads them.
func formatCPU(m int64, compose bool) string {
	if !compose {
		if m%1000 == 0 {
			return strconv.FormatInt(m/1000, 10)
		}
		return strconv.FormatInt(m, 10) + "m"
	}
	s := strconv.FormatInt(m/1000, 10)
	if r := m % 1000; r != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%03d", r), "0")
	}
	return s
}

// seconds returns d in whole seconds, rounding up (validation refuses
// fractions, so rounding only matters for unvalidated values).
func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// composeDuration writes d in whole seconds, as Compose reads durations
// ("90s").
func composeDuration(d time.Duration) string {
	return strconv.Itoa(seconds(d)) + "s"
}
