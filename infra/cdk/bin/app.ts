import { App } from 'aws-cdk-lib';
import { buildApp, propsFromContext } from '../lib/app.js';

/** `cdk synth` / `cdk deploy` entry (see cdk.json). Context: stage, oidcIssuer, oidcAudience, removalPolicy, account, region. */
const app = new App();
buildApp(app, propsFromContext(app.node));
app.synth();
