/*
 * chars.c - one table for every character class the parsers use (chars.h),
 * built at compile time from the grammar's own lists.
 */
#include "config.h"

#include "chars.h"

#define T EVAPI_CH_TCHAR
#define F EVAPI_CH_FIELD
#define H EVAPI_CH_HEX
#define G EVAPI_CH_TARGET
#define S EVAPI_CH_HOST
#define U EVAPI_CH_UNRES

/* ALPHA and DIGIT are everything; the punctuation is spelled out below. */
#define ALNUM (T | F | G | S | U)
#define ALNUMH (ALNUM | H)

const unsigned char evapi_chars[256] = {
	['\t'] = F,
	[' '] = F,
	['!'] = T | F | G | S,
	['"'] = F | G,
	['#'] = T | F,
	['$'] = T | F | G | S,
	['%'] = T | F | G | S,
	['&'] = T | F | G | S,
	['\''] = T | F | G | S,
	['('] = F | G | S,
	[')'] = F | G | S,
	['*'] = T | F | G | S,
	['+'] = T | F | G | S,
	[','] = F | G | S,
	['-'] = T | F | G | S | U,
	['.'] = T | F | G | S | U,
	['/'] = F | G,
	['0'] = ALNUMH, ['1'] = ALNUMH, ['2'] = ALNUMH, ['3'] = ALNUMH,
	['4'] = ALNUMH, ['5'] = ALNUMH, ['6'] = ALNUMH, ['7'] = ALNUMH,
	['8'] = ALNUMH, ['9'] = ALNUMH,
	[':'] = F | G | S,
	[';'] = F | G | S,
	['<'] = F | G,
	['='] = F | G | S,
	['>'] = F | G,
	['?'] = F | G,
	['@'] = F | G,
	['A'] = ALNUMH, ['B'] = ALNUMH, ['C'] = ALNUMH, ['D'] = ALNUMH,
	['E'] = ALNUMH, ['F'] = ALNUMH, ['G'] = ALNUM, ['H'] = ALNUM,
	['I'] = ALNUM, ['J'] = ALNUM, ['K'] = ALNUM, ['L'] = ALNUM,
	['M'] = ALNUM, ['N'] = ALNUM, ['O'] = ALNUM, ['P'] = ALNUM,
	['Q'] = ALNUM, ['R'] = ALNUM, ['S'] = ALNUM, ['T'] = ALNUM,
	['U'] = ALNUM, ['V'] = ALNUM, ['W'] = ALNUM, ['X'] = ALNUM,
	['Y'] = ALNUM, ['Z'] = ALNUM,
	['['] = F | G | S,
	['\\'] = F | G,
	[']'] = F | G | S,
	['^'] = T | F | G,
	['_'] = T | F | G | S | U,
	['`'] = T | F | G,
	['a'] = ALNUMH, ['b'] = ALNUMH, ['c'] = ALNUMH, ['d'] = ALNUMH,
	['e'] = ALNUMH, ['f'] = ALNUMH, ['g'] = ALNUM, ['h'] = ALNUM,
	['i'] = ALNUM, ['j'] = ALNUM, ['k'] = ALNUM, ['l'] = ALNUM,
	['m'] = ALNUM, ['n'] = ALNUM, ['o'] = ALNUM, ['p'] = ALNUM,
	['q'] = ALNUM, ['r'] = ALNUM, ['s'] = ALNUM, ['t'] = ALNUM,
	['u'] = ALNUM, ['v'] = ALNUM, ['w'] = ALNUM, ['x'] = ALNUM,
	['y'] = ALNUM, ['z'] = ALNUM,
	['{'] = F | G,
	['|'] = T | F | G,
	['}'] = F | G,
	['~'] = T | F | G | S | U,
	/* obs-text: allowed in field values, nowhere else. */
	[0x80 ... 0xff] = F,
};

int
evapi_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static unsigned char
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

int
evapi_ieq(const char *s, size_t n, const char *want)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (want[i] == '\0' ||
		    lower((unsigned char)s[i]) != (unsigned char)want[i])
			return 0;
	return want[n] == '\0';
}

int
evapi_memeqi(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

int
evapi_streqi(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return 0;
	return *a == *b;
}
