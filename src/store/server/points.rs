//! The [`VectorStore`] operations on the server's points: writes that wait for
//! the cluster, dense and fused searches that report cosines, scrolls.

use super::*;

impl QdrantServerStore {
    fn ordering(&self) -> WriteOrdering {
        WriteOrdering {
            r#type: WriteOrderingType::Medium as i32,
        }
    }

    fn check(&self, vector: &[f32]) -> Result<(), StoreError> {
        if vector.len() == self.dimension {
            Ok(())
        } else {
            Err(StoreError::Dimension {
                expected: self.dimension,
                got: vector.len(),
            })
        }
    }

    fn hit(&self, point: ScoredPoint, query: &[f32], fused: bool) -> Hit {
        // A fused score ranks but is no similarity: hits carry their cosine.
        let score = if fused {
            dense_of(point.vectors).map_or(0.0, |v| v.iter().zip(query).map(|(a, b)| a * b).sum())
        } else {
            point.score
        };
        let payload = json_payload(point.payload);
        Hit {
            id: payload
                .get(ID_KEY)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            score,
            payload,
        }
    }
}

impl VectorStore for QdrantServerStore {
    fn upsert(&self, collection: Collection, points: Vec<StoredPoint>) -> Result<(), StoreError> {
        if points.is_empty() {
            return Ok(());
        }
        let mut structs = Vec::with_capacity(points.len());
        for point in points {
            self.check(&point.vector)?;
            let mut vectors = NamedVectors::default().add_vector(DENSE, point.vector);
            if let Some(text) = point.text.as_deref() {
                let terms = self.bm25.embed_document(text);
                if !terms.indices.is_empty() {
                    vectors = vectors.add_vector(
                        LEXICAL,
                        qdrant_client::qdrant::Vector::new_sparse(terms.indices, terms.values),
                    );
                }
            }
            let mut payload = point.payload;
            payload.insert(ID_KEY.to_owned(), Value::String(point.id.clone()));
            structs.push(PointStruct::new(
                point_id(collection, &point.id),
                vectors,
                qdrant_client::Payload::from(payload),
            ));
        }
        let name = self.name(collection);
        self.run("upsert_points", || {
            self.client().upsert_points(
                UpsertPointsBuilder::new(&name, structs.clone())
                    .wait(true)
                    .ordering(self.ordering()),
            )
        })
        .map(drop)
    }

    fn delete_where(
        &self,
        collection: Collection,
        field: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let name = self.name(collection);
        self.run("delete_points", || {
            self.client().delete_points(
                DeletePointsBuilder::new(&name)
                    .points(Filter::must([Condition::matches(field, value.to_owned())]))
                    .wait(true)
                    .ordering(self.ordering()),
            )
        })
        .map(drop)
    }

    fn search(
        &self,
        collection: Collection,
        query: Query<'_>,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        self.check(query.vector)?;
        let name = self.name(collection);
        let params = SearchParamsBuilder::default().hnsw_ef(self.search_ef as u64);
        let terms = query
            .text
            .filter(|_| self.hybrid)
            .map(|text| self.bm25.embed_query(text))
            .filter(|terms| !terms.indices.is_empty());
        let fused = terms.is_some();
        let dense = VectorInput::new_dense(query.vector.to_vec());
        let request = match terms {
            None => QueryPointsBuilder::new(&name)
                .query(ServerQuery::new_nearest(dense))
                .using(DENSE)
                .params(params)
                .limit(limit as u64)
                .with_payload(true),
            Some(terms) => {
                let candidates = FUSION_CANDIDATES.max(limit as u64);
                QueryPointsBuilder::new(&name)
                    .add_prefetch(
                        PrefetchQueryBuilder::default()
                            .query(ServerQuery::new_nearest(dense))
                            .using(DENSE)
                            .params(params)
                            .limit(candidates),
                    )
                    .add_prefetch(
                        PrefetchQueryBuilder::default()
                            .query(ServerQuery::new_nearest(VectorInput::new_sparse(
                                terms.indices,
                                terms.values,
                            )))
                            .using(LEXICAL)
                            .limit(candidates),
                    )
                    .query(ServerQuery::new_fusion(Fusion::Rrf))
                    .limit(limit as u64)
                    .with_payload(true)
                    .with_vectors(qdrant_client::qdrant::VectorsSelector {
                        names: vec![DENSE.to_owned()],
                    })
            }
        };
        let found = self.run("query", || self.client().query(request.clone()))?;
        let mut hits: Vec<Hit> = found
            .result
            .into_iter()
            .map(|p| self.hit(p, query.vector, fused))
            .collect();
        if fused {
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        }
        Ok(hits)
    }

    fn search_exact(
        &self,
        collection: Collection,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        self.check(vector)?;
        let request = QueryPointsBuilder::new(self.name(collection))
            .query(ServerQuery::new_nearest(VectorInput::new_dense(
                vector.to_vec(),
            )))
            .using(DENSE)
            .params(SearchParamsBuilder::default().exact(true))
            .limit(limit as u64)
            .with_payload(true);
        let found = self.run("query_exact", || self.client().query(request.clone()))?;
        Ok(found
            .result
            .into_iter()
            .map(|p| self.hit(p, vector, false))
            .collect())
    }

    fn get(&self, collection: Collection, id: &str) -> Result<Option<StoredPoint>, StoreError> {
        let name = self.name(collection);
        let found = self.run("get_points", || {
            self.client().get_points(
                GetPointsBuilder::new(&name, vec![point_id(collection, id)])
                    .with_payload(true)
                    .with_vectors(true),
            )
        })?;
        Ok(found.result.into_iter().find_map(stored))
    }

    fn all(&self, collection: Collection) -> Result<Vec<StoredPoint>, StoreError> {
        let name = self.name(collection);
        let mut out = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let page = self.run("scroll", || {
                let mut request = ScrollPointsBuilder::new(&name)
                    .limit(SCROLL_PAGE)
                    .with_payload(true)
                    .with_vectors(true);
                if let Some(offset) = offset.clone() {
                    request = request.offset(offset);
                }
                self.client().scroll(request)
            })?;
            out.extend(page.result.into_iter().filter_map(stored));
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(out),
            }
        }
    }

    fn count(&self, collection: Collection) -> Result<usize, StoreError> {
        let name = self.name(collection);
        let counted = self.run("count", || {
            self.client()
                .count(CountPointsBuilder::new(&name).exact(true))
        })?;
        Ok(counted.result.map_or(0, |r| r.count as usize))
    }

    fn is_remote(&self) -> bool {
        true
    }

    /// Kept as the incidents collection's metadata (`switchboard_encoder`),
    /// where every replica and `migrate-store` find it.
    fn encoder(&self) -> Result<Option<String>, StoreError> {
        self.read_encoder()
    }

    fn record_encoder(&self, encoder: &str) -> Result<(), StoreError> {
        self.write_encoder(encoder)
    }

    fn check_ready(&self) -> Result<(), StoreError> {
        // One attempt per URL, no back-off: a probe wants the answer now.
        let mut last = None;
        for _ in 0..self.clients.len() {
            match self.wait(|| async { self.client().health_check().await.map_err(backend) }) {
                Ok(_) => return Ok(()),
                Err(err) => {
                    last = Some(err);
                    self.next_client();
                }
            }
        }
        Err(last.expect("at least one client"))
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Writes were acknowledged by the server (`wait`); it builds its own
        // indexes in the background.
        Ok(())
    }
}
