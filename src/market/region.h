/*
 * region — Korean regions ("neighborhoods"): the 17 provinces in every
 * official form and their cities/districts (시·군·구), and the normalizer
 * that turns a free-form address into the stored region
 * "<short province> <city/district>", e.g. "서울특별시 강남구 역삼동 123"
 * -> "서울 강남구". Prefix: region_.
 *
 * Rules (API.md "Regions"):
 *  - the first word must be a province in its long or short official form
 *    (서울특별시/서울, 강원특별자치도/강원도/강원, 전북특별자치도/전라북도/전북,
 *    ...); the second word must be one of that province's cities, counties
 *    or districts, spelled in full (강남구, 성남시, 달성군). What follows
 *    (구 of a city, 동, road, number) is dropped.
 *  - 세종 has no cities or districts: every 세종 address becomes
 *    "세종 세종시" (two words, like every other region; a second word
 *    "세종시" is accepted and dropped).
 *  - 군위군 moved from 경북 to 대구 (2023): "경북 군위군" becomes "대구 군위군".
 *  - 인천 was reorganized in 2026 (제물포구, 영종구, 검단구); the former
 *    중구 and 동구 are still accepted as written, since addresses in the
 *    old form are still in use (no guessing which new district was meant).
 *  - anything else is refused (no guessing).
 * The table is static and read-only: every function here is thread-safe.
 */
#ifndef REGION_H
#define REGION_H

#include <stddef.h>

/* Longest stored region in bytes (two words), including the NUL. */
#define REGION_MAX 64

/* Normalizes a free-form address (UTF-8, words separated by ASCII
 * whitespace) into out (cap >= REGION_MAX). Returns DM_OK, or DM_EINVAL
 * when the address is not a known province + city/district. */
int region_normalize(const char *in, char *out, size_t cap);

/* Number of provinces (17) and their short forms, for tests and tools. */
size_t region_province_count(void);
const char *region_province_short(size_t i);

/* Registers GET /regions (the table as JSON, for the web app's pickers). */
int region_init(void);
void region_stop(void);

#endif
