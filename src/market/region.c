/*
 * region.c — the province/district table, the address normalizer and
 * GET /regions, the table for the web app's pickers (see region.h).
 * Read-only data: thread-safe; the /regions reply is built once, under a
 * mutex, and kept.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dm.h"
#include "http.h"
#include "region.h"

#define MAX_FORMS 4

typedef struct province {
	const char *shortname;             /* stored form: "서울" */
	const char *forms[MAX_FORMS];      /* accepted first words, NULL-ended */
	const char *const *districts;      /* NULL-ended; NULL list: none (세종) */
} province_t;

static const char *const seoul[] = {
	"종로구", "중구", "용산구", "성동구", "광진구", "동대문구", "중랑구", "성북구", "강북구",
	"도봉구", "노원구", "은평구", "서대문구", "마포구", "양천구", "강서구", "구로구", "금천구",
	"영등포구", "동작구", "관악구", "서초구", "강남구", "송파구", "강동구", NULL};
static const char *const busan[] = {
	"중구", "서구", "동구", "영도구", "부산진구", "동래구", "남구", "북구", "해운대구",
	"사하구", "금정구", "강서구", "연제구", "수영구", "사상구", "기장군", NULL};
static const char *const daegu[] = {
	"중구", "동구", "서구", "남구", "북구", "수성구", "달서구", "달성군", "군위군", NULL};
/* 2026: 제물포구, 영종구 (from 중구 and 동구) and 검단구 (from 서구); the
 * former 중구 and 동구 stay accepted */
static const char *const incheon[] = {
	"제물포구", "영종구", "중구", "동구", "미추홀구", "연수구", "남동구", "부평구", "계양구",
	"서구", "검단구", "강화군", "옹진군", NULL};
static const char *const gwangju[] = {"동구", "서구", "남구", "북구", "광산구", NULL};
static const char *const daejeon[] = {"동구", "중구", "서구", "유성구", "대덕구", NULL};
static const char *const ulsan[] = {"중구", "남구", "동구", "북구", "울주군", NULL};
static const char *const gyeonggi[] = {
	"수원시", "성남시", "의정부시", "안양시", "부천시", "광명시", "평택시", "동두천시",
	"안산시", "고양시", "과천시", "구리시", "남양주시", "오산시", "시흥시", "군포시",
	"의왕시", "하남시", "용인시", "파주시", "이천시", "안성시", "김포시", "화성시",
	"광주시", "양주시", "포천시", "여주시", "연천군", "가평군", "양평군", NULL};
static const char *const gangwon[] = {
	"춘천시", "원주시", "강릉시", "동해시", "태백시", "속초시", "삼척시", "홍천군", "횡성군",
	"영월군", "평창군", "정선군", "철원군", "화천군", "양구군", "인제군", "고성군", "양양군",
	NULL};
static const char *const chungbuk[] = {
	"청주시", "충주시", "제천시", "보은군", "옥천군", "영동군", "증평군", "진천군", "괴산군",
	"음성군", "단양군", NULL};
static const char *const chungnam[] = {
	"천안시", "공주시", "보령시", "아산시", "서산시", "논산시", "계룡시", "당진시", "금산군",
	"부여군", "서천군", "청양군", "홍성군", "예산군", "태안군", NULL};
static const char *const jeonbuk[] = {
	"전주시", "군산시", "익산시", "정읍시", "남원시", "김제시", "완주군", "진안군", "무주군",
	"장수군", "임실군", "순창군", "고창군", "부안군", NULL};
static const char *const jeonnam[] = {
	"목포시", "여수시", "순천시", "나주시", "광양시", "담양군", "곡성군", "구례군", "고흥군",
	"보성군", "화순군", "장흥군", "강진군", "해남군", "영암군", "무안군", "함평군", "영광군",
	"장성군", "완도군", "진도군", "신안군", NULL};
static const char *const gyeongbuk[] = {
	"포항시", "경주시", "김천시", "안동시", "구미시", "영주시", "영천시", "상주시", "문경시",
	"경산시", "의성군", "청송군", "영양군", "영덕군", "청도군", "고령군", "성주군", "칠곡군",
	"예천군", "봉화군", "울진군", "울릉군", NULL};
static const char *const gyeongnam[] = {
	"창원시", "진주시", "통영시", "사천시", "김해시", "밀양시", "거제시", "양산시", "의령군",
	"함안군", "창녕군", "고성군", "남해군", "하동군", "산청군", "함양군", "거창군", "합천군",
	NULL};
static const char *const jeju[] = {"제주시", "서귀포시", NULL};

/* index of 세종 and 대구 below (special cases) */
enum { P_DAEGU = 2, P_INCHEON = 3, P_SEJONG = 7, P_GYEONGBUK = 14 };

static const province_t provinces[] = {
	{"서울", {"서울특별시", "서울", NULL}, seoul},
	{"부산", {"부산광역시", "부산", NULL}, busan},
	{"대구", {"대구광역시", "대구", NULL}, daegu},
	{"인천", {"인천광역시", "인천", NULL}, incheon},
	{"광주", {"광주광역시", "광주", NULL}, gwangju},
	{"대전", {"대전광역시", "대전", NULL}, daejeon},
	{"울산", {"울산광역시", "울산", NULL}, ulsan},
	{"세종", {"세종특별자치시", "세종", NULL}, NULL},
	{"경기", {"경기도", "경기", NULL}, gyeonggi},
	{"강원", {"강원특별자치도", "강원도", "강원", NULL}, gangwon},
	{"충북", {"충청북도", "충북", NULL}, chungbuk},
	{"충남", {"충청남도", "충남", NULL}, chungnam},
	{"전북", {"전북특별자치도", "전라북도", "전북", NULL}, jeonbuk},
	{"전남", {"전라남도", "전남", NULL}, jeonnam},
	{"경북", {"경상북도", "경북", NULL}, gyeongbuk},
	{"경남", {"경상남도", "경남", NULL}, gyeongnam},
	{"제주", {"제주특별자치도", "제주", NULL}, jeju},
};
#define NPROV (sizeof provinces / sizeof provinces[0])

size_t region_province_count(void)
{
	return NPROV;
}

const char *region_province_short(size_t i)
{
	return i < NPROV ? provinces[i].shortname : NULL;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The next whitespace-separated word of *p: its start and length (0 at the
 * end); advances *p past it. */
static size_t next_word(const char **p, const char **word)
{
	const char *s = *p;
	size_t n = 0;
	while (is_space(*s))
		s++;
	*word = s;
	while (s[n] && !is_space(s[n]))
		n++;
	*p = s + n;
	return n;
}

static int word_is(const char *w, size_t n, const char *name)
{
	return strlen(name) == n && !memcmp(w, name, n);
}

/* The district in list equal to (w, n), or NULL. */
static const char *find_district(const char *const *list, const char *w, size_t n)
{
	for (; list && *list; list++)
		if (word_is(w, n, *list))
			return *list;
	return NULL;
}

int region_normalize(const char *in, char *out, size_t cap)
{
	const char *p = in, *w, *d;
	const province_t *prov = NULL;
	size_t n;

	if (!in || !out || cap < REGION_MAX || !dm_utf8_valid(in, strlen(in)))
		return DM_EINVAL;
	n = next_word(&p, &w);
	if (!n)
		return DM_EINVAL;
	for (size_t i = 0; i < NPROV && !prov; i++)
		for (const char *const *f = provinces[i].forms; *f; f++)
			if (word_is(w, n, *f)) {
				prov = &provinces[i];
				break;
			}
	if (!prov)
		return DM_EINVAL;
	if (prov == &provinces[P_SEJONG])
		return dm_snprintf(out, cap, "세종 세종시") == DM_OK ? DM_OK : DM_EINVAL;
	n = next_word(&p, &w);
	if (!n)
		return DM_EINVAL;
	d = find_district(prov->districts, w, n);
	if (!d && prov == &provinces[P_GYEONGBUK] && word_is(w, n, "군위군")) {
		prov = &provinces[P_DAEGU];
		d = "군위군";
	}
	if (!d)
		return DM_EINVAL;
	return dm_snprintf(out, cap, "%s %s", prov->shortname, d) == DM_OK ? DM_OK : DM_EINVAL;
}

/* ------------------------------------------------------------ /regions */

static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t list_owner; /* who holds list_mu, while list_held; both under it */
static int list_held;
static char *list_json; /* the reply, built on first use; freed by region_stop */
static size_t list_len;

/* One step of building the list: SELECT sql with ?1 the JSON so far and
 * ?2 a name (no ?2 when name is NULL); replaces *json (sqlite3_malloc'd). DM_OK or DM_ERR. */
static int list_step(sqlite3 *db, const char *sql, char **json, const char *name)
{
	sqlite3_stmt *st = name ? db_query(db, sql, DB_TEXT(*json), DB_TEXT(name)) : db_query(db, sql, DB_TEXT(*json));
	int rc = DM_ERR;
	if (!st)
		return DM_ERR;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
		char *n = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
		if (n) {
			sqlite3_free(*json);
			*json = n;
			rc = DM_OK;
		}
	}
	db_done(st);
	return rc;
}

/* 1 if district d of p no longer exists (인천 중구 and 동구, reorganized in
 * 2026): still accepted as written in old addresses, but not offered in
 * pickers. */
static int former(const province_t *p, const char *d)
{
	return p == &provinces[P_INCHEON] && (!strcmp(d, "중구") || !strcmp(d, "동구"));
}

/* {"msg":"success","regions":[{"province":"서울","districts":[...]},...]}
 * into list_json (once; the caller holds list_mu). DM_OK or DM_ERR. */
static int list_build_locked(sqlite3 *db)
{
	char *json;
	int rc;

	dm_assert(list_held && pthread_equal(list_owner, pthread_self()));
	json = sqlite3_mprintf("[]");
	rc = json ? DM_OK : DM_ERR;

	for (size_t i = 0; i < NPROV && rc == DM_OK; i++) {
		const province_t *p = &provinces[i];
		rc = list_step(db, "SELECT json_insert(?1,'$[#]',json_object('province',?2,'districts',json_array()))",
			       &json, p->shortname);
		if (!p->districts && rc == DM_OK) /* 세종: stored as "세종 세종시" */
			rc = list_step(db, "SELECT json_insert(?1,'$[#-1].districts[#]',?2)", &json, "세종시");
		for (const char *const *d = p->districts; d && *d && rc == DM_OK; d++)
			if (!former(p, *d))
				rc = list_step(db, "SELECT json_insert(?1,'$[#-1].districts[#]',?2)", &json, *d);
	}
	if (rc == DM_OK)
		rc = list_step(db, "SELECT json_object('msg','success','regions',json(?1))", &json, NULL);
	if (rc == DM_OK && !(list_json = strdup(json)))
		rc = DM_ERR;
	if (rc == DM_OK)
		list_len = strlen(list_json);
	sqlite3_free(json);
	return rc;
}

/* GET /regions (public): every province and its cities/districts, in the
 * table's order (without former districts), for pickers. The stored region
 * is "<province> <district>". */
static int h_regions(http_req_t *r)
{
	int rc = DM_OK;
	pthread_mutex_lock(&list_mu);
	list_owner = pthread_self();
	list_held = 1;
	if (!list_json)
		rc = list_build_locked(r->db);
	list_held = 0;
	pthread_mutex_unlock(&list_mu);
	if (rc != DM_OK)
		return http_fail_dm(r, DM_ERR);
	/* list_json never changes once set */
	return http_reply_raw(r, 200, "application/json; charset=utf-8", "Cache-Control: public, max-age=3600\r\n",
			      list_json, list_len);
}

static const http_route_t routes[] = {
	{"GET", "/regions", h_regions, HTTP_PUBLIC},
};

int region_init(void)
{
	http_routes(routes, sizeof routes / sizeof routes[0]);
	return DM_OK;
}

void region_stop(void)
{
	free(list_json);
	list_json = NULL;
}
