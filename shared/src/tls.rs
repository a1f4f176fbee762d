//! Who the outbound HTTPS clients trust, compiled in, and the AWS SDK's HTTP client.
//!
//! The SDK's default client parses the system CA store (about 140 roots) at every cold start
//! and links aws-lc; here it is rustls on ring, trusting the Amazon Trust Services roots that
//! AWS endpoints chain to and nothing else: half the Init time, a smaller binary, and a
//! DynamoDB or SNS endpoint cannot be impersonated by a certificate from any other CA.
//! The third-party login client trusts the roots its providers' hosts chain to.
//! README "Trusted roots" says how to add one.

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// A root certificate compiled into every binary that calls out.
pub struct Root {
    pub name: &'static str,
    pub pem: &'static str,
    /// SHA-256 of the DER certificate, as published by the CA (pinned by the tests).
    pub sha256: &'static str,
}

macro_rules! root {
    ($name:literal, $file:literal, $sha256:literal) => {
        Root { name: $name, pem: include_str!(concat!("../certs/", $file)), sha256: $sha256 }
    };
}

/// Amazon Trust Services: every AWS endpoint (DynamoDB, SNS, STS...) chains to one of Amazon
/// Root CA 1-4; Starfield Services G2 cross-signs them for endpoints that still send that chain.
pub const AWS_ROOTS: &[Root] = &[
    root!(
        "Amazon Root CA 1",
        "amazon-root-ca-1.pem",
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e"
    ),
    root!(
        "Amazon Root CA 2",
        "amazon-root-ca-2.pem",
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4"
    ),
    root!(
        "Amazon Root CA 3",
        "amazon-root-ca-3.pem",
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4"
    ),
    root!(
        "Amazon Root CA 4",
        "amazon-root-ca-4.pem",
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092"
    ),
    root!(
        "Starfield Services Root Certificate Authority - G2",
        "starfield-services-root-certificate-authority-g2.pem",
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5"
    ),
];

/// The third-party login providers: api.weixin.qq.com and graph.qq.com (Tencent) chain to
/// DigiCert Global Root CA, moving to DigiCert Global Root G2 since 2024 (Tencent's notice);
/// api.weibo.com to GlobalSign (Root CA, Root CA - R3). appleid.apple.com (Sign in with Apple)
/// has chained to DigiCert (Global Root G2 for RSA, G3 for ECC, High Assurance EV before), and
/// Apple moved other services (APNs, 2025) to Sectigo's USERTrust roots: all of them are here,
/// because a missing one turns every deployed Apple call into a 502 while one more root among
/// nine costs nothing. No machine of this project reaches those hosts, so the chains cannot be
/// checked in `make test`: `make check-roots` checks them from a machine on the internet
/// (scripts/check-roots.sh; docs/security.md "Trusted roots").
pub const PROVIDER_ROOTS: &[Root] = &[
    root!(
        "DigiCert Global Root G3",
        "digicert-global-root-g3.pem",
        "31ad6648f8104138c738f39ea4320133393e3a18cc02296ef97c2ac9ef6731d0"
    ),
    root!(
        "DigiCert High Assurance EV Root CA",
        "digicert-high-assurance-ev-root-ca.pem",
        "7431e5f4c3c1ce4690774f0b61e05440883ba9a01ed00ba6abd7806ed3b118cf"
    ),
    root!(
        "USERTrust RSA Certification Authority",
        "usertrust-rsa-certification-authority.pem",
        "e793c9b02fd8aa13e21c31228accb08119643b749c898964b1746d46c3d4cbd2"
    ),
    root!(
        "USERTrust ECC Certification Authority",
        "usertrust-ecc-certification-authority.pem",
        "4ff460d54b9c86dabfbcfc5712e0400d2bed3fbc4d4fbdaa86e06adcd2a9ad7a"
    ),
    root!(
        "DigiCert Global Root CA",
        "digicert-global-root-ca.pem",
        "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161"
    ),
    root!(
        "DigiCert Global Root G2",
        "digicert-global-root-g2.pem",
        "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f"
    ),
    root!(
        "GlobalSign Root CA",
        "globalsign-root-ca.pem",
        "ebd41040e4bb3ec742c9e381d31ef2a41a48b6685c96e7cef3c1df6cd4331c99"
    ),
    root!(
        "GlobalSign Root CA - R3",
        "globalsign-root-ca-r3.pem",
        "cbb522d7b7f127ad6a0113865bdf1cd4102e7d0759af635a7cf4720dc963c53b"
    ),
];

/// The AWS SDK's HTTP client: rustls on ring, trusting [`AWS_ROOTS`] only. Plain `http://`
/// endpoints (DynamoDB Local, moto) work through it too.
pub fn aws_http_client() -> SharedHttpClient {
    let mut store = TrustStore::empty();
    for root in AWS_ROOTS {
        store.add_pem_certificate(root.pem.as_bytes());
    }
    let context = TlsContext::builder().with_trust_store(store).build().expect("a trust store of PEM roots builds");
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    SharedHttpClient::new(ConnectorOnFirstUse(client))
}

/// The SDK's client, minus the TLS connector it builds and throws away at every SDK client's
/// construction: aws-smithy-http-client's `validate_base_client_config` builds one "so that
/// native certs load at client initialization time", then drops it; the first request builds
/// (and caches) the connector it uses whatever happened before. With the roots compiled in
/// there is nothing to load early, and each SDK client built at Init (DynamoDB, SNS, Secrets
/// Manager) saved the rustls config it paid for: README "Size and cold start".
#[derive(Debug)]
struct ConnectorOnFirstUse(SharedHttpClient);

impl HttpClient for ConnectorOnFirstUse {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// What every SDK client of a process is built from: the environment (region, credentials,
/// endpoint overrides) with [`aws_http_client`]. Callers may chain more settings before `load`.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(aws_http_client())
}

/// [`PROVIDER_ROOTS`] for the outbound rustls client (login providers, the legacy server, Aliyun SMS).
#[cfg(feature = "https-client")]
pub fn provider_roots() -> rustls::RootCertStore {
    anchors(PROVIDER_ROOTS)
}

#[cfg(any(test, feature = "https-client"))]
fn anchors(roots: &[Root]) -> rustls::RootCertStore {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        let der = CertificateDer::from_pem_slice(root.pem.as_bytes()).expect("compiled-in roots are PEM");
        store.add(der).expect("compiled-in roots are valid trust anchors");
    }
    store
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    use sha2::{Digest, Sha256};

    use super::*;

    /// Each file holds exactly the certificate its name says (a swapped or truncated file
    /// would silently trust someone else), and each is a usable trust anchor.
    #[test]
    fn compiled_in_roots_are_the_published_certificates() {
        for root in AWS_ROOTS.iter().chain(PROVIDER_ROOTS) {
            let ders: Vec<_> = CertificateDer::pem_slice_iter(root.pem.as_bytes()).collect::<Result<_, _>>().unwrap();
            assert_eq!(ders.len(), 1, "{}: one certificate per file", root.name);
            assert_eq!(hex::encode(Sha256::digest(&ders[0])), root.sha256, "{}", root.name);
        }
        assert_eq!(anchors(AWS_ROOTS).len(), AWS_ROOTS.len());
        assert_eq!(anchors(PROVIDER_ROOTS).len(), PROVIDER_ROOTS.len());
    }

    /// The AWS client trusts Amazon Trust Services only: no provider root, no system store.
    #[test]
    fn aws_endpoints_trust_amazon_roots_only() {
        let names: Vec<&str> = AWS_ROOTS.iter().map(|r| r.name).collect();
        for n in 1..=4 {
            assert!(names.contains(&format!("Amazon Root CA {n}").as_str()), "{names:?}");
        }
        assert!(AWS_ROOTS.iter().all(|r| r.name.starts_with("Amazon") || r.name.starts_with("Starfield Services")));
        assert!(PROVIDER_ROOTS.iter().all(|p| AWS_ROOTS.iter().all(|a| a.sha256 != p.sha256)));
    }
}
