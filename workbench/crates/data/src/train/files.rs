//! The order of a dataset's source files in time, for the file split (train on the earlier
//! files, test on the later ones). CIC-IDS2017's files are days and are named after them
//! (`Monday-WorkingHours.pcap_ISCX.csv` ... `Friday-WorkingHours-Afternoon-DDos.pcap_ISCX.csv`),
//! which sorting by name gets wrong (Friday first); files without a weekday in their name keep
//! the order they were given in (a folder's files are read in name order, so
//! `UNSW-NB15_1.csv` ... `UNSW-NB15_4.csv` stay in order).

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The weekday and part of the day (morning 0, unnamed 1, afternoon 2) a file name says.
fn day_of(name: &str) -> Option<(usize, u8)> {
    // The file's own name, not a folder or archive it sits in.
    let base = name
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase();
    let day = DAYS.iter().position(|d| base.contains(d))?;
    let part = if base.contains("morning") {
        0
    } else if base.contains("afternoon") {
        2
    } else {
        1
    };
    Some((day, part))
}

/// Source indices in time order, and how the order was decided.
pub fn time_order(names: &[String]) -> (Vec<usize>, &'static str) {
    let mut order: Vec<usize> = (0..names.len()).collect();
    let days: Vec<Option<(usize, u8)>> = names.iter().map(|n| day_of(n)).collect();
    if !names.is_empty() && days.iter().all(Option::is_some) {
        order.sort_by_key(|&i| (days[i], i));
        (order, "by the weekday in each file's name")
    } else {
        (
            order,
            "in the order the files were given (a folder's files by name)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cic_days_sort_by_weekday_and_part_of_day() {
        let names: Vec<String> = [
            "MachineLearningCVE/Friday-WorkingHours-Afternoon-DDos.pcap_ISCX.csv",
            "MachineLearningCVE/Friday-WorkingHours-Morning.pcap_ISCX.csv",
            "MachineLearningCVE/Monday-WorkingHours.pcap_ISCX.csv",
            "MachineLearningCVE/Thursday-WorkingHours-Afternoon-Infilteration.pcap_ISCX.csv",
            "MachineLearningCVE/Thursday-WorkingHours-Morning-WebAttacks.pcap_ISCX.csv",
            "MachineLearningCVE/Tuesday-WorkingHours.pcap_ISCX.csv",
            "MachineLearningCVE/Wednesday-workingHours.pcap_ISCX.csv",
        ]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
        let (order, how) = time_order(&names);
        assert_eq!(order, [2, 5, 6, 4, 3, 1, 0]);
        assert!(how.contains("weekday"));
        let plain: Vec<String> = ["b.csv", "a.csv"]
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        assert_eq!(time_order(&plain).0, [0, 1], "given order kept");
    }
}
