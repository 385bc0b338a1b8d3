#include "core/token_calibration.h"

#define MIN_SAMPLE_TOKENS 32   /* below this the per-message overheads swamp the signal */
#define WEIGHT            0.2  /* of each new sample: converges in ~10 turns, shrugs off outliers */
#define RATIO_MIN         0.25 /* a wild upstream figure must not make the estimate absurd */
#define RATIO_MAX         4.0

void token_calibration_init(token_calibration *c) {
    c->ratio = 1.0;
    c->samples = 0;
}

void token_calibration_observe(token_calibration *c, int64_t estimated, int64_t reported) {
    if (estimated < MIN_SAMPLE_TOKENS || reported <= 0) return;
    double r = (double)reported / (double)estimated;
    if (r < RATIO_MIN) r = RATIO_MIN;
    if (r > RATIO_MAX) r = RATIO_MAX;
    c->ratio = c->samples == 0 ? r : c->ratio + WEIGHT * (r - c->ratio);
    c->samples++;
}

int64_t token_calibration_apply(const token_calibration *c, int64_t estimated) {
    double v = (double)estimated * c->ratio + 0.5;
    return v < 1 ? 1 : (int64_t)v;
}
