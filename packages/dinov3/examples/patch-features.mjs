// Patch features of an image file with DINOv3 in Node.
// Usage: node examples/patch-features.mjs <weights .pth|.safetensors> <image> [backend=wasm]
// Needs the built packages (npx tsup in weights, nn, dinov3) and sharp (npm install sharp) for decoding.
import sharp from 'sharp';
import { initBackend } from '@svg/nn';
import { loadDinov3, preprocess } from '@svg/dinov3';

const [weights, image, backend = 'wasm'] = process.argv.slice(2);
await initBackend(backend);
const model = await loadDinov3(weights); // preset inferred from the shapes

// 256×256 RGB (a 16×16 patch grid); any multiple of 16 works.
const { data, info } = await sharp(image).resize(256, 256, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
const x = preprocess({ data, width: info.width, height: info.height }); // [1, 256, 256, 3], ImageNet-normalised

const { clsToken, storageTokens, patchTokens, prenorm } = model.forwardFeatures(x);
console.log('patch tokens', patchTokens.shape, Array.from((await patchTokens.data()).slice(0, 5)));
console.log('class token', clsToken.shape, Array.from((await clsToken.data()).slice(0, 5)));
[x, clsToken, storageTokens, patchTokens, prenorm].forEach((t) => t.dispose());
