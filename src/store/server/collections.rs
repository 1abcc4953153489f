//! The collections on the server: created with the store's layout where
//! missing, refused at another width, and the encoder record kept as the
//! incidents collection's metadata.

use super::*;

impl QdrantServerStore {
    /// Width of the dense vectors of the collection `name`, if it has them.
    pub(super) fn dense_size(&self, name: &str) -> Result<Option<u64>, StoreError> {
        use qdrant_client::qdrant::vectors_config::Config;
        if !self.run("collection_exists", || {
            self.client().collection_exists(name)
        })? {
            return Ok(None);
        }
        let info = self.run("collection_info", || self.client().collection_info(name))?;
        Ok(info
            .result
            .and_then(|info| info.config)
            .and_then(|config| config.params)
            .and_then(|params| params.vectors_config)
            .and_then(|vectors| match vectors.config {
                Some(Config::ParamsMap(map)) => map.map.get(DENSE).map(|p| p.size),
                Some(Config::Params(params)) => Some(params.size),
                None => None,
            }))
    }

    /// Refuses an existing collection whose dense vectors are not `dimension` long.
    fn check_dimension(&self, name: &str) -> Result<(), StoreError> {
        let size = self.dense_size(name)?;
        if size == Some(self.dimension as u64) {
            return Ok(());
        }
        Err(StoreError::Open {
            path: name.to_owned(),
            reason: format!(
                "the collection holds vectors of size {size:?} but the model makes {}; \
                 re-embed the store (`switchboard reembed`) or use another collection_prefix",
                self.dimension
            ),
        })
    }

    pub(super) fn ensure_collection(&self, collection: Collection) -> Result<(), StoreError> {
        let name = self.name(collection);
        if self.run("collection_exists", || {
            self.client().collection_exists(&name)
        })? {
            return self.check_dimension(&name);
        }
        let s = &self.settings;
        let mut vectors = VectorsConfigBuilder::default();
        vectors.add_named_vector_params(
            DENSE,
            VectorParamsBuilder::new(self.dimension as u64, Distance::Cosine).on_disk(s.on_disk),
        );
        let mut sparse = SparseVectorsConfigBuilder::default();
        sparse.add_named_vector_params(
            LEXICAL,
            SparseVectorParamsBuilder::default().modifier(Modifier::Idf as i32),
        );
        let created = self.run("create_collection", || {
            self.client().create_collection(
                CreateCollectionBuilder::new(&name)
                    .vectors_config(vectors.clone())
                    .sparse_vectors_config(sparse.clone())
                    .shard_number(s.shard_number.max(1))
                    .replication_factor(s.replication_factor.max(1))
                    .write_consistency_factor(s.write_consistency_factor.max(1))
                    .hnsw_config(
                        HnswConfigDiffBuilder::default()
                            .m(self.index.m as u64)
                            .ef_construct(self.index.ef_construct as u64),
                    )
                    .on_disk_payload(s.on_disk),
            )
        });
        // Another replica may have created it meanwhile.
        if let Err(err) = created
            && !self.run("collection_exists", || {
                self.client().collection_exists(&name)
            })?
        {
            return Err(err);
        }
        for field in INDEXED_FIELDS {
            self.run("create_field_index", || {
                self.client().create_field_index(
                    CreateFieldIndexCollectionBuilder::new(&name, *field, FieldType::Keyword)
                        .wait(true),
                )
            })?;
        }
        Ok(())
    }

    /// The encoder record ([`VectorStore::encoder`]).
    pub(super) fn read_encoder(&self) -> Result<Option<String>, StoreError> {
        let name = self.name(Collection::Incidents);
        let info = self.run("collection_info", || self.client().collection_info(&name))?;
        let metadata = info
            .result
            .and_then(|info| info.config)
            .map(|config| config.metadata)
            .unwrap_or_default();
        Ok(metadata
            .get(ENCODER_KEY)
            .and_then(|value| match &value.kind {
                Some(qdrant_client::qdrant::value::Kind::StringValue(text)) => Some(text.clone()),
                _ => None,
            }))
    }

    /// Writes the encoder record ([`VectorStore::record_encoder`]).
    pub(super) fn write_encoder(&self, encoder: &str) -> Result<(), StoreError> {
        let name = self.name(Collection::Incidents);
        let metadata: HashMap<String, Value> =
            [(ENCODER_KEY.to_owned(), Value::from(encoder))].into();
        self.run("update_collection", || {
            self.client().update_collection(
                qdrant_client::qdrant::UpdateCollectionBuilder::new(&name)
                    .metadata(metadata.clone()),
            )
        })?;
        Ok(())
    }
}
