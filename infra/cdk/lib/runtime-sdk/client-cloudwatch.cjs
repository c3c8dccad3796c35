// The Lambda runtime's @aws-sdk/client-cloudwatch, loaded with require: see RUNTIME_SDK_PACKAGES in ../service-function.ts.
// The name is computed so that esbuild leaves this require to run time instead of bundling (and aliasing) it.
module.exports = require(['@aws-sdk', 'client-cloudwatch'].join('/'));
