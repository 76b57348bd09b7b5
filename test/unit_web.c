/*
 * unit_web.c — unit tests of web.c's parsers of request headers the client
 * controls: Accept-Encoding (is gzip acceptable?) and If-None-Match (does
 * it name this entity tag?), table-driven. web.c is #included; the http
 * functions it registers with are stubbed (only the parsers run here), and
 * a two-row asset table stands in for the generated one.
 */
#include "../src/core/dm.c"
#include "../src/web/web.c"

#include "unit.h"

static const unsigned char fixture[] = "<!doctype html>";
const web_asset_t web_assets[] = {
	{"/", "text/html; charset=utf-8", "\"0123456789abcdef\"", fixture, sizeof fixture - 1, NULL, 0},
	{"/assets/app.0123456789.js", "text/javascript; charset=utf-8", "\"fedcba9876543210\"", fixture, 1, NULL, 0},
	{0, 0, 0, 0, 0, 0, 0},
};
const unsigned web_nassets = 2;

/* stubs: web_init is not called here */
void http_routes(const http_route_t *rt, size_t n) { (void)rt; (void)n; }
void http_fallback(http_handler_fn fn) { (void)fn; }
int http_refuse(http_req_t *r, refusal_t rf)
{
	(void)r; (void)rf;
	return DM_OK;
}
const char *http_header(const http_req_t *r, const char *name) { (void)r; (void)name; return NULL; }

static void test_accept_encoding(void)
{
	static const struct {
		const char *v;
		int gzip;
	} t[] = {
		{"gzip", 1},
		{"gzip, deflate, br", 1},
		{"deflate, gzip", 1},
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", 1},
		{"GZIP", 1},
		{" gzip ", 1},
		{"gzip;q=0", 0},
		{"gzip; q=0", 0},
		{"gzip;q=0.0", 0},
		{"gzip;q=0.000, identity", 0},
		{"gzip;q=0.001", 1},
		{"identity", 0},
		{"", 0},
		{"x-gzip", 0},
		{"gzipped", 0},
		{"deflate;q=0, gzip", 1},
		{"gzip, br;q=0", 1},
		{"gzip;q=", 0},
		{",,,", 0},
		{NULL, 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(header_has(t[i].v, "gzip") == t[i].gzip, "Accept-Encoding '%s': want %d", t[i].v ? t[i].v : "(none)",
		      t[i].gzip);
}

static void test_if_none_match(void)
{
	static const char etag[] = "\"0123456789abcdef\"";
	static const struct {
		const char *v;
		int match;
	} t[] = {
		{"\"0123456789abcdef\"", 1},
		{"W/\"0123456789abcdef\"", 1},
		{"\"x\", \"0123456789abcdef\"", 1},
		{"\"x\",\"0123456789abcdef\"", 1},
		{"*", 1},
		{"\"0123456789abcdef-gz\"", 0},
		{"\"0123456789abcde\"", 0},
		{"0123456789abcdef", 0},
		{"\"0123456789abcdefX\"", 0},
		{"", 0},
		{NULL, 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(etag_matches(t[i].v, etag) == t[i].match, "If-None-Match '%s': want %d", t[i].v ? t[i].v : "(none)",
		      t[i].match);
}

static void test_find(void)
{
	CHECK(web_find("/") == &web_assets[0], "index at /");
	CHECK(web_find("/assets/app.0123456789.js") == &web_assets[1], "an asset");
	CHECK(web_find("/assets/app.js") == NULL && web_find("") == NULL && web_find("/assets/") == NULL, "no others");
}

int main(void)
{
	test_accept_encoding();
	test_if_none_match();
	test_find();
	UNIT_DONE("unit_web");
}
