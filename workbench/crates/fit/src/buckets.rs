//! One numeric column against a binary label, grouped by distinct value: what the pitfall
//! report's one-feature classifiers need for every column (a sort and one pass; here because
//! the workbench crate itself is unoptimised in the dev profile and this runs 80 times over
//! 200,000 rows).

/// Distinct finite values in ascending order with their benign and malicious row counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    pub values: Vec<f64>,
    pub benign: Vec<u64>,
    pub malicious: Vec<u64>,
}

pub fn buckets(x: &[f64], y: &[bool]) -> Buckets {
    let mut pairs: Vec<(f64, bool)> = x
        .iter()
        .zip(y)
        .filter(|(v, _)| v.is_finite())
        .map(|(&v, &m)| (v, m))
        .collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut b = Buckets {
        values: Vec::new(),
        benign: Vec::new(),
        malicious: Vec::new(),
    };
    for (v, m) in pairs {
        if b.values.last() != Some(&v) {
            b.values.push(v);
            b.benign.push(0);
            b.malicious.push(0);
        }
        let last = b.values.len() - 1;
        if m {
            b.malicious[last] += 1;
        } else {
            b.benign[last] += 1;
        }
    }
    b
}

/// Area under the ROC curve of "higher value = malicious", ties as one step (trapezoid), as a
/// curve of one point per distinct value gives it.
pub fn roc_auc(b: &Buckets) -> f64 {
    let pos: u64 = b.malicious.iter().sum();
    let neg: u64 = b.benign.iter().sum();
    let rate = |k: u64, n: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let (mut tp, mut fp) = (0u64, 0u64);
    let (mut x0, mut y0) = (0.0, 0.0);
    let mut area = 0.0;
    for i in (0..b.values.len()).rev() {
        tp += b.malicious[i];
        fp += b.benign[i];
        let (x1, y1) = (rate(fp, neg), rate(tp, pos));
        area += (x1 - x0) * (y1 + y0) / 2.0;
        (x0, y0) = (x1, y1);
    }
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_sorts_and_measures() {
        let x = [3.0, 1.0, f64::NAN, 3.0, 2.0, f64::INFINITY];
        let y = [true, false, true, false, true, true];
        let b = buckets(&x, &y);
        assert_eq!(b.values, [1.0, 2.0, 3.0]);
        assert_eq!(
            (b.benign.clone(), b.malicious.clone()),
            (vec![1, 0, 1], vec![0, 1, 1])
        );
        // Positives 2.0, 3.0; negatives 1.0, 3.0: pairs (2>1), (2<3), (3>1), (3=3 half) = 2.5/4.
        assert_eq!(roc_auc(&b), 0.625);
        let perfect = buckets(&[1.0, 2.0, 3.0, 4.0], &[false, false, true, true]);
        assert_eq!(roc_auc(&perfect), 1.0);
    }
}
