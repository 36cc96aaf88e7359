package postgres

// fastTimestamp parses the timestamps records usually carry —
// YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH[:MM]] — without time.Parse, as
// microseconds since the Unix epoch (rounded half to even, as PostgreSQL
// rounds). keepWall ignores the offset (a timestamp without time zone keeps
// its wall clock, as PostgreSQL's input does). ok is false for anything
// else, which the caller hands to the general parser.
func fastTimestamp(s string, keepWall bool) (micros int64, ok bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || sec > 59 {
		return 0, false
	}
	i := 19
	var frac int64 // microseconds
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		n := i - start
		if n == 0 || n > 9 {
			return 0, false
		}
		var ns int64
		for j := start; j < i; j++ {
			ns = ns*10 + int64(s[j]-'0')
		}
		for k := n; k < 9; k++ {
			ns *= 10
		}
		frac = ns / 1000
		switch rem := ns % 1000; {
		case rem > 500, rem == 500 && frac%2 == 1:
			frac++
		}
	}
	var offset int64 // seconds east of UTC
	if i < len(s) {
		switch s[i] {
		case 'Z':
			i++
		case '+', '-':
			sign := int64(1)
			if s[i] == '-' {
				sign = -1
			}
			i++
			oh, okh := digits2(s, i)
			if !okh || oh > 23 {
				return 0, false
			}
			i += 2
			var om int
			if i < len(s) {
				if s[i] == ':' {
					i++
				}
				var okm bool
				if om, okm = digits2(s, i); !okm || om > 59 {
					return 0, false
				}
				i += 2
			}
			offset = sign * int64(oh*3600+om*60)
		default:
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	secs := daysFromCivil(y, mo, d)*86400 + int64(h*3600+mi*60+sec)
	if !keepWall {
		secs -= offset
	}
	return secs*1_000_000 + frac, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func digits2(s string, i int) (int, bool) {
	if i+2 > len(s) {
		return 0, false
	}
	return digits(s[i : i+2])
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
