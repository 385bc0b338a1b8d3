/* Calibrates the count_tokens estimate against the upstream's own counts: every completed turn
 * whose upstream reported usage gives one (estimate, reported prompt tokens) pair, and an
 * exponentially weighted ratio of the two scales later estimates. It learns whatever tokenizer
 * the upstream's models use, with no table to keep current. Loop-thread only. */
#ifndef LGW_CORE_TOKEN_CALIBRATION_H
#define LGW_CORE_TOKEN_CALIBRATION_H
#include <stdint.h>

typedef struct token_calibration {
    double ratio;     /* reported / estimated; 1 until the first sample */
    uint64_t samples; /* pairs observed */
} token_calibration;

void token_calibration_init(token_calibration *c);
/* One completed turn: our estimate of its prompt and the upstream's reported prompt tokens.
 * Small prompts are ignored (the fixed overheads dominate them). */
void token_calibration_observe(token_calibration *c, int64_t estimated, int64_t reported);
/* An estimate scaled by what has been learnt (at least 1). */
int64_t token_calibration_apply(const token_calibration *c, int64_t estimated);
#endif
