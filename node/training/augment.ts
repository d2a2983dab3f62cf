// Batch augmentation for 28x28 chest radiographs, drawn from a seeded PRNG (deterministic).
//
// Each image gets one random affine map (rotation, zoom, shift) sampled bilinearly with edge
// clamping, then a brightness/contrast jitter around its own mean. No left-right flip: a chest
// film is not mirror-symmetric (heart, aortic knuckle and gastric bubble sit on the patient's left,
// the R/L marker is burned in), so a flipped film is an anatomically implausible image
// (dextrocardia) that the model would never see at a real site; the small geometric jitter covers
// the variation in patient positioning instead.

export interface AugmentOptions {
  /** Maximum shift in pixels along each axis (uniform in ±shiftPx). */
  shiftPx: number;
  /** Maximum rotation in degrees (uniform in ±rotateDeg). */
  rotateDeg: number;
  /** Zoom factor range [min, max] (uniform). */
  zoom: [number, number];
  /** Additive brightness in [0,1] pixel units (uniform in ±brightness). */
  brightness: number;
  /** Contrast factor in 1 ± contrast (uniform). */
  contrast: number;
}

export const CHEST_XRAY_AUGMENT: AugmentOptions = { shiftPx: 3, rotateDeg: 10, zoom: [0.9, 1.1], brightness: 0.1, contrast: 0.15 };

const SIDE = 28;
const C = (SIDE - 1) / 2;

/**
 * Augments `n` images in place. `x` holds n × 28 × 28 pixels in [0, 1]; `tmp` is scratch of at
 * least 784 floats. Uses exactly 6 draws of `rnd` per image, so the stream stays aligned.
 */
export function augmentBatch(x: Float32Array, n: number, rnd: () => number, o: AugmentOptions = CHEST_XRAY_AUGMENT, tmp = new Float32Array(SIDE * SIDE)): void {
  const u = (a: number, b: number) => a + (b - a) * rnd();
  for (let i = 0; i < n; i++) {
    const theta = (u(-o.rotateDeg, o.rotateDeg) * Math.PI) / 180;
    const scale = u(o.zoom[0], o.zoom[1]);
    const tx = u(-o.shiftPx, o.shiftPx);
    const ty = u(-o.shiftPx, o.shiftPx);
    const bright = u(-o.brightness, o.brightness);
    const contrast = u(1 - o.contrast, 1 + o.contrast);
    const img = x.subarray(i * SIDE * SIDE, (i + 1) * SIDE * SIDE);
    tmp.set(img);
    // inverse map: output (r, c) ← source = R(-θ)·((r, c) − centre − t) / scale + centre
    const cos = Math.cos(theta) / scale;
    const sin = Math.sin(theta) / scale;
    let sum = 0;
    for (let r = 0; r < SIDE; r++) {
      const dy = r - C - ty;
      for (let c = 0; c < SIDE; c++) {
        const dx = c - C - tx;
        let sx = cos * dx + sin * dy + C;
        let sy = -sin * dx + cos * dy + C;
        sx = sx < 0 ? 0 : sx > SIDE - 1 ? SIDE - 1 : sx;
        sy = sy < 0 ? 0 : sy > SIDE - 1 ? SIDE - 1 : sy;
        const x0 = Math.min(SIDE - 2, Math.floor(sx));
        const y0 = Math.min(SIDE - 2, Math.floor(sy));
        const fx = sx - x0;
        const fy = sy - y0;
        const p = y0 * SIDE + x0;
        const v = (1 - fy) * ((1 - fx) * tmp[p]! + fx * tmp[p + 1]!) + fy * ((1 - fx) * tmp[p + SIDE]! + fx * tmp[p + SIDE + 1]!);
        img[r * SIDE + c] = v;
        sum += v;
      }
    }
    const mean = sum / (SIDE * SIDE);
    for (let p = 0; p < SIDE * SIDE; p++) {
      const v = (img[p]! - mean) * contrast + mean + bright;
      img[p] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
}
