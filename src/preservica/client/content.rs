//! The Content API's thumbnail (contract §8.2): what Preservica made of an asset, if
//! anything (404 means "no thumbnail", not an error).

use super::*;

impl PreservicaClient {
    /// The asset's thumbnail of `size` (image bytes), `None` when it has none.
    pub async fn thumbnail(
        &self,
        reference: &str,
        size: wire::ThumbnailSize,
    ) -> Result<Option<Vec<u8>>> {
        let mut url = url::Url::parse(&self.url(wire::THUMBNAIL_PATH)).map_err(|e| {
            PreservicaError::Malformed {
                url: redact(&self.url(wire::THUMBNAIL_PATH)),
                reason: e.to_string(),
            }
        })?;
        url.query_pairs_mut()
            .append_pair("id", &wire::content_id(reference))
            .append_pair("size", size.as_str());
        match self.call(Method::GET, url.as_str(), None, &[]).await {
            Ok(reply) => Ok(Some(reply.body.to_vec())),
            Err(PreservicaError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
