import { App } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import type { CfnUserPoolClient } from 'aws-cdk-lib/aws-cognito';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MACHINE_CLIENTS_ENV } from '#shared/http/claims.js';
import { enforcesPolicies, functionsOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { SIGN_IN_CALLBACK_URL } from '../lib/api-stack.js';
import {
  buildApp,
  type ConductorAppProps,
  parseMachineClientsContext,
  propsFromContext,
} from '../lib/app.js';
import { type Synthesized, synthConductor } from './synth.js';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

const MACHINE_CLIENTS: ConductorAppProps['machineClients'] = [
  { name: 'orders', tenant: 'acme', roles: ['operator'] },
  { name: 'audit', tenant: 'globex', roles: ['viewer'] },
];

describe('machine clients', () => {
  let synth: Synthesized;
  let resources: Resources;
  const clientLogicalId = (name: string): string => {
    const client = synth.api.machineClients[name];
    if (!client) throw new Error(`no machine client ${name}`);
    return synth.logicalIdOf(client.node.defaultChild as CfnUserPoolClient);
  };
  const apiClientLogicalId = (): string =>
    synth.logicalIdOf(synth.api.userPoolClient?.node.defaultChild as CfnUserPoolClient);

  beforeAll(() => {
    synth = synthConductor({
      props: { machineClients: MACHINE_CLIENTS, authDomainPrefix: 'conductor-test' },
    });
    resources = synth.flatApiTemplate.toJSON().Resources as Resources;
  });
  afterAll(() => synth?.dispose());

  describe('in the user pool', () => {
    it('gives each service a client with a secret whose only grant is client credentials', () => {
      for (const name of ['orders', 'audit']) {
        expect(resources[clientLogicalId(name)]?.Properties).toMatchObject({
          ClientName: `conductor-prod-m2m-${name}`,
          GenerateSecret: true,
          AllowedOAuthFlows: ['client_credentials'],
          AllowedOAuthFlowsUserPoolClient: true,
          ExplicitAuthFlows: ['ALLOW_REFRESH_TOKEN_AUTH'],
        });
      }
    });

    it('allows each client exactly the scopes of its bound roles', () => {
      const scope = (role: string) => ({
        'Fn::Join': ['', [{ Ref: Match.stringLikeRegexp('^UserPoolApiResourceServer') }, `/${role}`]],
      });
      synth.flatApiTemplate.hasResource('AWS::Cognito::UserPoolClient', {
        Properties: Match.objectLike({
          ClientName: 'conductor-prod-m2m-orders',
          AllowedOAuthScopes: [scope('operator')],
        }),
      });
      synth.flatApiTemplate.hasResource('AWS::Cognito::UserPoolClient', {
        Properties: Match.objectLike({
          ClientName: 'conductor-prod-m2m-audit',
          AllowedOAuthScopes: [scope('viewer')],
        }),
      });
    });

    it('declares one scope per role a service may hold on the conductor resource server', () => {
      synth.flatApiTemplate.hasResourceProperties('AWS::Cognito::UserPoolResourceServer', {
        Identifier: 'conductor',
        Scopes: [Match.objectLike({ ScopeName: 'viewer' }), Match.objectLike({ ScopeName: 'operator' })],
      });
    });

    it('gets a Cognito domain for the token endpoint and managed login', () => {
      synth.flatApiTemplate.hasResourceProperties('AWS::Cognito::UserPoolDomain', {
        Domain: 'conductor-test',
      });
    });

    it('lets people sign in through managed login with the authorization code grant', () => {
      expect(resources[apiClientLogicalId()]?.Properties).toMatchObject({
        GenerateSecret: false,
        AllowedOAuthFlows: ['code'],
        AllowedOAuthScopes: expect.arrayContaining(['openid']),
        CallbackURLs: [SIGN_IN_CALLBACK_URL],
        SupportedIdentityProviders: ['COGNITO'],
        ExplicitAuthFlows: expect.not.arrayContaining(['ALLOW_USER_PASSWORD_AUTH']),
      });
    });

    it('names a client by its service only, so its logical id survives reordering the list', () => {
      expect(clientLogicalId('orders')).toMatch(/^UserPoolMachineOrdersClient[0-9A-F]{8}$/);
      expect(clientLogicalId('audit')).toMatch(/^UserPoolMachineAuditClient[0-9A-F]{8}$/);
    });
  });

  describe('at the gateway and in the functions', () => {
    it('accepts the app client and every machine client as JWT audiences', () => {
      synth.flatApiTemplate.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        JwtConfiguration: {
          Audience: [
            { Ref: apiClientLogicalId() },
            { Ref: clientLogicalId('orders') },
            { Ref: clientLogicalId('audit') },
          ],
        },
      });
    });

    it('tells every function that reads identities which tenant and roles each client has', () => {
      const enforcing = functionsOf(PILLARS).filter(enforcesPolicies);
      expect(enforcing.length).toBeGreaterThan(0);
      for (const entry of enforcing) {
        const fn = synth.api.functions[entry.name];
        if (!fn) throw new Error(`no function ${entry.name}`);
        const resource = resources[synth.logicalIdOf(fn.function.node.defaultChild as CfnFunction)];
        if (!resource) throw new Error(`no Lambda resource for ${entry.name}`);
        const variables = (resource.Properties.Environment as { Variables: Record<string, unknown> })
          .Variables;
        const bindings = JSON.stringify(variables[MACHINE_CLIENTS_ENV]);
        expect(bindings, entry.name).toMatch(/tenant\W+acme\W+roles\W+operator/);
        expect(bindings, entry.name).toContain(`{"Ref":"${clientLogicalId('orders')}"}`);
      }
    });

    it('outputs the token URL, the sign-in URL and each client id', () => {
      for (const output of ['TokenUrl', 'SignInUrl', 'MachineClientOrdersId', 'MachineClientAuditId']) {
        synth.flatApiTemplate.hasOutput(output, {});
      }
    });
  });
});

describe('machine client settings', () => {
  const build = (props: ConductorAppProps) => () => buildApp(new App(), { nag: false, ...props });

  it.each<[string, ConductorAppProps, RegExp]>([
    [
      'a role that needs step-up',
      { machineClients: [{ name: 'x', tenant: 'acme', roles: ['admin' as 'viewer'] }] },
      /role 'admin'/,
    ],
    ['no role', { machineClients: [{ name: 'x', tenant: 'acme', roles: [] }] }, /no role/],
    [
      'a tenant that is no tenant id',
      { machineClients: [{ name: 'x', tenant: 'Acme', roles: ['viewer'] }] },
      /tenant 'Acme'/,
    ],
    [
      'an upper-case name',
      { machineClients: [{ name: 'Orders', tenant: 'acme', roles: ['viewer'] }] },
      /'Orders'/,
    ],
    [
      'one name twice',
      {
        machineClients: [
          { name: 'x', tenant: 'acme', roles: ['viewer'] },
          { name: 'x', tenant: 'globex', roles: ['viewer'] },
        ],
      },
      /declared twice/,
    ],
    [
      'an external OIDC issuer',
      {
        oidc: { issuer: 'https://issuer.example.com', audience: ['conductor'] },
        machineClients: [{ name: 'x', tenant: 'acme', roles: ['viewer'] }],
      },
      /Cognito user pool/,
    ],
    ['a domain prefix with a reserved word', { authDomainPrefix: 'my-cognito' }, /authDomainPrefix/],
  ])('refuses %s at synth', (_, props, message) => {
    expect(build(props)).toThrow(message);
  });

  it('reads machineClients context as name=tenant:role+role entries', () => {
    expect(parseMachineClientsContext('orders=acme:operator+viewer, audit=globex:viewer')).toEqual([
      { name: 'orders', tenant: 'acme', roles: ['operator', 'viewer'] },
      { name: 'audit', tenant: 'globex', roles: ['viewer'] },
    ]);
  });

  it('refuses a machineClients entry without a tenant, naming it', () => {
    expect(() => parseMachineClientsContext('orders=operator')).toThrow(/'orders=operator'/);
  });

  it('passes machineClients and authDomainPrefix from context to the app', () => {
    const app = new App({
      context: { machineClients: 'orders=acme:operator', authDomainPrefix: 'conductor-x' },
    });
    expect(propsFromContext(app.node)).toMatchObject({
      machineClients: [{ name: 'orders', tenant: 'acme', roles: ['operator'] }],
      authDomainPrefix: 'conductor-x',
    });
  });
});
