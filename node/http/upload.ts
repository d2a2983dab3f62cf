// Parsing and validating uploaded weights: either a zip of tfjs layers artifacts (model.json +
// weights.bin), or raw little-endian float32 (`application/octet-stream`) in the flat order.
import { unzipSync } from 'fflate';

export class UploadError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Shape = { name: string; shape: number[] };
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function checkFinite(flat: Float32Array): Float32Array {
  for (let i = 0; i < flat.length; i++) if (!Number.isFinite(flat[i]!)) throw new UploadError(400, 'NOT_FINITE', `weight ${i} is ${flat[i]}; all weights must be finite`);
  return flat;
}

export function parseWeightsUpload(body: Buffer, contentType: string, shapesHeader: string | undefined, expected: Shape[]): Float32Array {
  const total = expected.reduce((n, s) => n + size(s.shape), 0);
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/octet-stream') {
    if (shapesHeader !== undefined) {
      let shapes: unknown;
      try {
        shapes = JSON.parse(shapesHeader);
      } catch {
        throw new UploadError(400, 'BAD_SHAPES', 'X-Weight-Shapes must be a JSON array of shapes');
      }
      if (!Array.isArray(shapes) || shapes.length !== expected.length || shapes.some((s, i) => JSON.stringify(s) !== JSON.stringify(expected[i]!.shape))) {
        throw new UploadError(400, 'BAD_SHAPES', `X-Weight-Shapes does not match the model: expected ${JSON.stringify(expected.map((e) => e.shape))}`);
      }
    }
    if (body.length !== total * 4) throw new UploadError(400, 'WRONG_SIZE', `expected ${total} float32 values (${total * 4} bytes), got ${body.length} bytes`);
    const flat = new Float32Array(total);
    for (let i = 0; i < total; i++) flat[i] = body.readFloatLE(i * 4);
    return checkFinite(flat);
  }
  if (type === 'application/zip') {
    let files: Record<string, Uint8Array>;
    try {
      files = unzipSync(new Uint8Array(body));
    } catch {
      throw new UploadError(400, 'BAD_ZIP', 'body is not a readable zip');
    }
    const mj = files['model.json'];
    if (!mj) throw new UploadError(400, 'BAD_ZIP', 'zip must contain model.json and the weight files it names');
    let manifest: { weightsManifest?: { paths: string[]; weights: { name: string; shape: number[]; dtype?: string }[] }[] };
    try {
      manifest = JSON.parse(new TextDecoder().decode(mj));
    } catch {
      throw new UploadError(400, 'BAD_MODEL_JSON', 'model.json is not valid JSON');
    }
    const groups = manifest.weightsManifest;
    if (!Array.isArray(groups)) throw new UploadError(400, 'BAD_MODEL_JSON', 'model.json has no weightsManifest');
    const specs = groups.flatMap((g) => g.weights ?? []);
    const data = Buffer.concat(groups.flatMap((g) => (g.paths ?? []).map((p) => {
      const f = files[p];
      if (!f) throw new UploadError(400, 'BAD_ZIP', `weight file ${p} named in model.json is missing`);
      return Buffer.from(f);
    })));
    if (specs.length !== expected.length) throw new UploadError(400, 'BAD_SHAPES', `model has ${expected.length} weight tensors, upload has ${specs.length}`);
    specs.forEach((s, i) => {
      if ((s.dtype ?? 'float32') !== 'float32') throw new UploadError(400, 'BAD_DTYPE', `${s.name}: only float32 weights are accepted`);
      if (JSON.stringify(s.shape) !== JSON.stringify(expected[i]!.shape)) throw new UploadError(400, 'BAD_SHAPES', `${s.name}: shape ${JSON.stringify(s.shape)}, expected ${JSON.stringify(expected[i]!.shape)}`);
    });
    if (data.length !== total * 4) throw new UploadError(400, 'WRONG_SIZE', `weights hold ${data.length} bytes, expected ${total * 4}`);
    const flat = new Float32Array(total);
    for (let i = 0; i < total; i++) flat[i] = data.readFloatLE(i * 4);
    return checkFinite(flat);
  }
  throw new UploadError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send application/zip (model.json + weights.bin) or application/octet-stream (flat float32, little-endian)');
}
