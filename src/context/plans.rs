//! Resolved plans, cached per context. An op's plan depends only on its
//! geometry (view offsets aside: their alignment is part of the description)
//! and the preferences, so an eager call of a shape seen before dispatches by
//! one lookup.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// One map per (key type, value type), kept type-erased so every op can use
/// its own key without this module knowing the ops.
#[derive(Default)]
pub struct PlanCache {
    maps: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let maps = self.maps.lock().unwrap_or_else(|e| e.into_inner()).len();
        f.debug_struct("PlanCache").field("plan_kinds", &maps).finish()
    }
}

impl PlanCache {
    /// The value cached under `key`, made by `make` on the first request.
    /// `make` runs without the lock held (it may compile kernels); when two
    /// threads race, both values are valid and the later one is kept.
    pub fn get_or_make<K, V>(&self, key: &K, make: impl FnOnce() -> crate::Result<V>) -> crate::Result<V>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let id = TypeId::of::<HashMap<K, V>>();
        {
            let maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(v) = maps.get(&id).and_then(|m| m.downcast_ref::<HashMap<K, V>>()).and_then(|m| m.get(key)) {
                return Ok(v.clone());
            }
        }
        let v = make()?;
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        let map = maps.entry(id).or_insert_with(|| Box::new(HashMap::<K, V>::new()));
        if let Some(m) = map.downcast_mut::<HashMap<K, V>>() {
            m.insert(key.clone(), v.clone());
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_once_per_key_and_keeps_types_apart() {
        let cache = PlanCache::default();
        let mut made = 0;
        for _ in 0..3 {
            let v: u32 = cache
                .get_or_make(&(1usize, 2usize), || {
                    made += 1;
                    Ok(7)
                })
                .unwrap();
            assert_eq!(v, 7);
        }
        assert_eq!(made, 1);
        let s: String = cache.get_or_make(&(1usize, 2usize), || Ok("other type".to_string())).unwrap();
        assert_eq!(s, "other type");
        assert!(cache.get_or_make::<u8, u8>(&0, || Err(crate::Error::invalid("t", "x", "y", "z"))).is_err());
    }
}
