// tfjs-core registers no gradients by itself, and Node cannot import this file directly (extensionless ESM
// imports inside), so tsup bundles it into our dist (see tsup.config.ts). Importing @svg/nn enables tf.grad.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
