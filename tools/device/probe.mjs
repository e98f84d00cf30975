// The WebGPU adapter that Dawn (the npm package `webgpu`) finds here, its limits and features: the first thing to
// read when the webgpu rows of the device benchmark fail. Run by tools/device/run.sh from the pack.
const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) {
  console.log(`webgpu: no adapter (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'unset'})`);
  process.exit(1);
}
const { vendor, architecture, device, description } = adapter.info ?? {};
console.log(`webgpu adapter: ${[vendor, architecture, device, description].filter(Boolean).join(' | ')}`);
const l = adapter.limits;
console.log(`  limits: maxBufferSize ${l.maxBufferSize}, maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize}, maxComputeWorkgroupStorageSize ${l.maxComputeWorkgroupStorageSize}, maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}`);
console.log(`  features: ${[...adapter.features].sort().join(', ')}`);
process.exit(0);
