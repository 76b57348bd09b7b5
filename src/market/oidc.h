/*
 * oidc — Kakao and Google sign-in, verified on the server (OpenID Connect).
 * Prefix: oidc_.
 *
 *  - GET /account/{kakao,google}: the authorization code flow with PKCE
 *    (S256), state and nonce (oidcState); endpoints come from the issuer's
 *    discovery document (cached).
 *  - GET /account/{provider}/callback: the state is spent, the code
 *    exchanged over HTTPS (certificate verified against --ca-bundle), the
 *    id_token verified (RS256 against the provider's JWKS, iss, aud, exp,
 *    iat, nonce; a nonce is accepted once: oidcNonce), the user found by
 *    (provider, sub) or created, then a redirect to --app-url with a
 *    one-time code (socialLogin: stored hashed, single use, 2 minutes).
 *  - POST /account/social/exchange {code}: the same reply as login.
 *  - POST /account/kakaoAuth, /account/googleAuth {idToken} (Kakao also
 *    {accessToken}, through the user-info endpoint): for apps using the
 *    provider's SDK. Never trusts an email from the body.
 */
#ifndef OIDC_H
#define OIDC_H

int oidc_init(void);
void oidc_stop(void);

#endif
