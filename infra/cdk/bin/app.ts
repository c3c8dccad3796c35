import { App } from 'aws-cdk-lib';
import { buildApp, deployPropsFromContext } from '../lib/app.js';

/**
 * `cdk synth` / `cdk deploy` entry (see cdk.json). Context (infra/cdk/README.md): `stage` (required),
 * `account` and `region` (required for a production stage), and the optional keys of propsFromContext.
 */
const app = new App();
buildApp(app, deployPropsFromContext(app.node));
app.synth();
