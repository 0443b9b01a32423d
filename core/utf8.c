#include "core/utf8.h"

/* Indexed by lead byte - 0xC0. C0 and C1 only start overlong forms; E0 needs A0..BF (below is
 * overlong), ED needs 80..9F (above are surrogates), F0 needs 90..BF (below is overlong), F4
 * needs 80..8F (above is beyond U+10FFFF); F5..FF would all be beyond it. */
const struct sl_utf8_lead sl_utf8_leads[64] = {
    {0, 0, 0},       {0, 0, 0},       {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, /* C0 */
    {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, /* C4 */
    {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, /* C8 */
    {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, /* CC */
    {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, /* D0 */
    {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, /* D4 */
    {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, /* D8 */
    {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, {2, 0x80, 0xbf}, /* DC */
    {3, 0xa0, 0xbf}, {3, 0x80, 0xbf}, {3, 0x80, 0xbf}, {3, 0x80, 0xbf}, /* E0 */
    {3, 0x80, 0xbf}, {3, 0x80, 0xbf}, {3, 0x80, 0xbf}, {3, 0x80, 0xbf}, /* E4 */
    {3, 0x80, 0xbf}, {3, 0x80, 0xbf}, {3, 0x80, 0xbf}, {3, 0x80, 0xbf}, /* E8 */
    {3, 0x80, 0xbf}, {3, 0x80, 0x9f}, {3, 0x80, 0xbf}, {3, 0x80, 0xbf}, /* EC */
    {4, 0x90, 0xbf}, {4, 0x80, 0xbf}, {4, 0x80, 0xbf}, {4, 0x80, 0xbf}, /* F0 */
    {4, 0x80, 0x8f}, {0, 0, 0},       {0, 0, 0},       {0, 0, 0},       /* F4 */
    {0, 0, 0},       {0, 0, 0},       {0, 0, 0},       {0, 0, 0},       /* F8 */
    {0, 0, 0},       {0, 0, 0},       {0, 0, 0},       {0, 0, 0},       /* FC */
};

size_t sl_utf8_seq(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (p[0] == 0)
        return 0;
    if (p[0] < 0x80)
        return 1;
    return sl_utf8_multi(p, n);
}

bool sl_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x01 && c < 0x80) {
            i++;
            continue;
        }
        size_t len = c ? sl_utf8_multi(p + i, n - i) : 0;
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}
